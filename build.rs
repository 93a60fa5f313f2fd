//! Build script: embeds the web UI (`web/`) into the binary.
//!
//! Every file under `web/` is copied into `OUT_DIR` and gzipped there (best compression), and
//! `OUT_DIR/ui_assets.rs` is generated: a table of `(path, raw bytes, gzip bytes)` read with
//! `include_bytes!`, plus `UI_VERSION`, a content hash over all files. `index.html` has every
//! `"assets/` reference rewritten to `"assets/<UI_VERSION>/`, so asset URLs change whenever any
//! asset changes and can be cached forever. `src/api/ui.rs` serves the table.
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(&p, base, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, p));
        }
    }
}

/// FNV-1a 64: stable across toolchains, enough to tell two UI builds apart.
fn fnv1a(state: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *state ^= u64::from(*b);
        *state = state.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let web = manifest.join("web");
    println!("cargo:rerun-if-changed=web");
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    collect(&web, &web, &mut files);
    let mut contents = Vec::new();
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for (rel, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(path).expect("read web asset");
        fnv1a(&mut hash, rel.as_bytes());
        fnv1a(&mut hash, &[0]);
        fnv1a(&mut hash, &bytes);
        contents.push((rel.clone(), bytes));
    }
    let version = format!("{hash:016x}");
    let version = &version[..12];

    let emb = out_dir.join("ui");
    let _ = std::fs::remove_dir_all(&emb);
    std::fs::create_dir_all(&emb).expect("create OUT_DIR/ui");
    let mut table = String::new();
    writeln!(
        table,
        "/// Content hash of the whole UI; asset URLs are `assets/<UI_VERSION>/…`."
    )
    .unwrap();
    writeln!(table, "pub const UI_VERSION: &str = \"{version}\";").unwrap();
    writeln!(table, "/// `(path under web/, raw bytes, gzip bytes)`.").unwrap();
    writeln!(table, "pub static UI_FILES: &[(&str, &[u8], &[u8])] = &[").unwrap();
    for (i, (rel, bytes)) in contents.iter().enumerate() {
        let raw = if rel == "index.html" {
            let text = String::from_utf8_lossy(bytes)
                .replace("\"assets/", &format!("\"assets/{version}/"));
            text.into_bytes()
        } else {
            bytes.clone()
        };
        let raw_path = emb.join(format!("{i}.raw"));
        let gz_path = emb.join(format!("{i}.gz"));
        std::fs::write(&raw_path, &raw).expect("write raw asset");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&raw).expect("gzip");
        let gz = enc.finish().expect("gzip finish");
        std::fs::write(&gz_path, &gz).expect("write gz asset");
        writeln!(
            table,
            "    ({rel:?}, include_bytes!({:?}), include_bytes!({:?})),",
            raw_path.display().to_string(),
            gz_path.display().to_string()
        )
        .unwrap();
    }
    writeln!(table, "];").unwrap();
    std::fs::write(out_dir.join("ui_assets.rs"), table).expect("write ui_assets.rs");
}

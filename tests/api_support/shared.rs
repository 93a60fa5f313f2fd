//! The shared specs/vectors directory: env `FROSTBOX_SHARED`, else `<crate>/../shared`.

use std::path::PathBuf;

pub fn shared_dir() -> PathBuf {
    std::env::var_os("FROSTBOX_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
}

/// `protocol/vectors/<name>` as text (panics naming the path when it is missing).
pub fn vector_text(name: &str) -> String {
    let p = shared_dir().join("protocol/vectors").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `protocol/vectors/<name>` parsed as JSON.
pub fn vector_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&vector_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

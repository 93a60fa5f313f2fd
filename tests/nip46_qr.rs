//! QR encoder checked by an independent decoder (zbarimg from zbar-tools, in CI's APT_PACKAGES).

use frostbox::nip46::qr::{Ecc, QrCode};
use std::process::Command;

fn decode(q: &QrCode) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("q.pbm");
    std::fs::write(&path, q.to_pbm(4)).expect("write pbm");
    let out = Command::new("zbarimg")
        .args(["--raw", "-q", "-Sbinary"])
        .arg(&path)
        .output()
        .expect("zbarimg must be installed (apt zbar-tools)");
    assert!(
        out.status.success(),
        "zbarimg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = String::from_utf8(out.stdout).expect("utf8");
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

#[test]
fn zbar_decodes_every_version_and_level() {
    let mut seen = std::collections::BTreeSet::new();
    for len in [
        1usize, 10, 20, 30, 45, 60, 80, 100, 120, 150, 180, 200, 213, 230, 260, 271,
    ] {
        let text: String = (0..len)
            .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
            .collect();
        let q = QrCode::encode(text.as_bytes()).expect("encode");
        seen.insert((q.version, q.ecc == Ecc::M));
        assert_eq!(decode(&q), text, "version {} {:?}", q.version, q.ecc);
    }
    assert!(seen.len() >= 10, "covered {seen:?}");
}

#[test]
fn zbar_decodes_a_bunker_uri() {
    let uri = format!(
        "bunker://{}?relay=wss%3A%2F%2Frelay.example.com&relay=ws%3A%2F%2F192.168.1.20%3A8080&secret={}",
        "3f".repeat(32),
        "a1".repeat(32)
    );
    let q = QrCode::encode(uri.as_bytes()).expect("encode");
    assert_eq!(decode(&q), uri);
    let svg = q.to_svg(4);
    assert!(svg.contains(&format!("viewBox=\"0 0 {} {}\"", q.size + 8, q.size + 8)));
}

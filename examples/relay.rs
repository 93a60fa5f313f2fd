//! Runs the Frostbox relay alone on loopback (interop tests, manual poking).
//!
//!   cargo run --example relay -- [--open] [--port N] [--allow <hex pubkey>]...
//!
//! Prints `RELAY_PORT=<port>` on stdout once listening.

use frostbox::relay::{Relay, RelayConfig};
use std::io::Write;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut cfg = RelayConfig::default();
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--open" => cfg.open = true,
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--allow" => {
                let mut k = [0u8; 32];
                match args.next().map(|h| hex::decode_to_slice(h, &mut k)) {
                    Some(Ok(())) => cfg.allowlist.push(k),
                    _ => {
                        eprintln!("--allow needs a 64-hex pubkey");
                        std::process::exit(2);
                    }
                }
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("RELAY_PORT={}", addr.port());
    std::io::stdout().flush()?;
    frostbox::relay::server::serve(listener, Relay::new(cfg)).await
}

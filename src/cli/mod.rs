//! Command-line front end. One file per subcommand; each owns its `clap::Args` and a `run`
//! that returns the process exit code (0 ok, 1 runtime failure, 2 bad input).

pub mod healthcheck;
pub mod keys;
pub mod migrate;
pub mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "frostbox",
    version,
    about = "Always-on FROSTR threshold signer"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the signer, relay, API and UI (the default).
    Serve(serve::ServeArgs),
    /// Split a fresh or given nsec into k-of-n shares and print the packages.
    Keygen(keys::KeygenArgs),
    /// Recover the nsec from k shares read on stdin.
    Recover(keys::RecoverArgs),
    /// Move a legacy 1.0.x group to the current generation, keeping the npub.
    Migrate(migrate::MigrateArgs),
    /// Decode a package or credential; secrets are shown redacted.
    Inspect(keys::InspectArgs),
    /// Exit 0 when the local instance answers /ready, 1 otherwise (container HEALTHCHECK).
    Healthcheck(healthcheck::HealthcheckArgs),
}

/// Entry point used by `main.rs`; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        None => serve::run(serve::ServeArgs::default()),
        Some(Command::Serve(a)) => serve::run(a),
        Some(Command::Keygen(a)) => keys::keygen(a),
        Some(Command::Recover(a)) => keys::recover(a),
        Some(Command::Migrate(a)) => migrate::run(a),
        Some(Command::Inspect(a)) => keys::inspect(a),
        Some(Command::Healthcheck(a)) => healthcheck::run(a),
    }
}

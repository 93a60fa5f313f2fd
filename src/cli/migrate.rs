//! `frostbox migrate`: legacy 1.0.x shares → a current-generation keyset with the same npub.

#[derive(clap::Args)]
pub struct MigrateArgs {}

pub fn run(_a: MigrateArgs) -> i32 {
    eprintln!("frostbox migrate: not implemented yet");
    1
}

//! `frostbox serve`: owned by the API/storage work.

#[derive(clap::Args, Default)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> i32 {
    eprintln!("frostbox serve: not implemented yet");
    1
}

//! `frostbox healthcheck`: exit 0 when `/ready` answers 200.

#[derive(clap::Args)]
pub struct HealthcheckArgs {}

pub fn run(_a: HealthcheckArgs) -> i32 {
    eprintln!("frostbox healthcheck: not implemented yet");
    1
}

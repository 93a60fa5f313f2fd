//! `frostbox keygen | recover | inspect`.

#[derive(clap::Args)]
pub struct KeygenArgs {}
#[derive(clap::Args)]
pub struct RecoverArgs {}
#[derive(clap::Args)]
pub struct InspectArgs {}

pub fn keygen(_a: KeygenArgs) -> i32 {
    eprintln!("frostbox keygen: not implemented yet");
    1
}
pub fn recover(_a: RecoverArgs) -> i32 {
    eprintln!("frostbox recover: not implemented yet");
    1
}
pub fn inspect(_a: InspectArgs) -> i32 {
    eprintln!("frostbox inspect: not implemented yet");
    1
}

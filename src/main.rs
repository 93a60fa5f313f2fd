// Static (musl) builds: mimalloc, see Cargo.toml for the measurements behind it.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(frostbox::cli::main());
}

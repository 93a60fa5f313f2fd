fn main() {
    std::process::exit(frostbox::cli::main());
}

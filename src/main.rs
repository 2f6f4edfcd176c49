fn main() -> std::process::ExitCode {
    organizeo::cli::main()
}

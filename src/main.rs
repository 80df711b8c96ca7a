fn main() -> std::process::ExitCode {
    ludus::cli::main()
}

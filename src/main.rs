fn main() -> std::process::ExitCode {
    stepguard::cli::main()
}

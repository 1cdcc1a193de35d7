fn main() -> std::process::ExitCode {
    kafka_oracle::cli::main()
}

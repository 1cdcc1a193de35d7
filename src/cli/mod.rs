//! The command line: `kafka-oracle <command>`.

/// `println!` for reports: a closed stdout (`| head`) ends the program
/// quietly, any other failure to write is an error, never a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::emit(format_args!($($arg)*))
    };
}

mod check;
mod conform;
mod properties_file;
mod replay;
mod verify_history;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Can my Kafka setup lose a message? A model-checked answer.
#[derive(Parser)]
#[command(name = "kafka-oracle", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Model-check the matrix of known configurations, one scenario, or a
    /// configuration given with Kafka's knob names.
    Check(check::CheckArgs),
    /// Replay a trace written by `check --trace-out` through the model and
    /// confirm the violation it records.
    Replay(replay::ReplayArgs),
    /// Replay the model's traces on the broker's partition core and report
    /// the first difference of each.
    Conform(conform::ConformArgs),
    /// Judge a history recorded from a Kafka-compatible system (JSON lines,
    /// one client operation a line) for lost, duplicated or misordered
    /// records.
    VerifyHistory(verify_history::VerifyHistoryArgs),
}

pub(crate) fn emit(line: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(line).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("kafka-oracle: cannot write the report: {e}");
        std::process::exit(EXIT_BAD_INPUT.into());
    }
}

/// Exit codes: 0 as expected (a valid history), 1 a verdict differs (an
/// anomaly), 2 bad input.
pub const EXIT_MISMATCH: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Conform(args) => conform::run(args),
        Command::VerifyHistory(args) => verify_history::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("kafka-oracle: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

//! The command line: `kafka-oracle <command>`.

/// `println!` for reports: a closed stdout (`| head`) ends the program
/// quietly, any other failure to write is an error, never a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::emit(format_args!($($arg)*))
    };
}

mod broker;
mod check;
mod cluster;
mod commits;
mod conform;
mod controller;
mod probe;
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
    /// Record a history from a Kafka-compatible system through the rskafka
    /// client, under faults a given command injects, and judge it.
    Probe(probe::ProbeArgs),
    /// Run the controller: broker sessions, leader elections, ISR changes.
    #[command(
        override_usage = "kafka-oracle controller --listen <ADDR> --data-dir <DIR> [OPTIONS]\n       kafka-oracle controller --knobs"
    )]
    Controller(controller::ControllerArgs),
    /// Run a broker: Kafka's wire protocol for clients, replication by
    /// fetching from leaders, decisions from the controller.
    #[command(
        override_usage = "kafka-oracle broker --node-id <N> --listen <ADDR> --data-dir <DIR> --controller <ADDR> [OPTIONS]\n       kafka-oracle broker --knobs"
    )]
    Broker(broker::BrokerArgs),
    /// Run a controller and N brokers on loopback ports until Ctrl-C: the
    /// quickest way to a cluster to point a Kafka client at.
    Cluster(cluster::ClusterArgs),
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

/// Refuses an output path before any work is done, rather than after a
/// check of minutes: a directory, a parent that is missing or not a
/// directory, or a file this user may not create or write. An existing
/// file is left as it was.
pub(crate) fn check_output_path(flag: &str, path: &str) -> Result<(), String> {
    use std::path::Path;
    let file = Path::new(path);
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let refused = if file.is_dir() {
        Some("is a directory, not a file".to_string())
    } else if !parent.exists() {
        Some(format!("the directory {} does not exist", parent.display()))
    } else if !parent.is_dir() {
        Some(format!("{} is not a directory", parent.display()))
    } else {
        // Opening for append changes nothing in an existing file; a
        // temporary file, removed on drop, shows the directory takes new
        // ones.
        let probe = if file.exists() {
            std::fs::OpenOptions::new()
                .append(true)
                .open(file)
                .map(drop)
        } else {
            tempfile::NamedTempFile::new_in(parent).map(drop)
        };
        probe.err().map(|e| format!("cannot be written: {e}"))
    };
    match refused {
        Some(reason) => Err(format!("{flag} {path}: {reason}")),
        None => Ok(()),
    }
}

/// Exit codes: 0 as expected (a valid history), 1 a verdict differs (an
/// anomaly), 2 bad input, 3 no verdict: a model check stopped at a limit
/// before it found a violation or saw every state, or a history with no
/// anomaly whose final read stopped short of a key's end.
pub const EXIT_MISMATCH: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_INCONCLUSIVE: u8 = 3;

/// Resolves once the process should stop: Ctrl-C, SIGTERM, or (with
/// `exit_with_stdin`) standard input closing because the parent is gone.
async fn stop_requested(exit_with_stdin: bool) {
    use tokio::io::AsyncReadExt;
    let stdin_closed = async {
        if !exit_with_stdin {
            return std::future::pending().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
        _ = stdin_closed => {}
    }
}

/// Runs a server on a tokio runtime until it fails or a stop is requested;
/// `server` gets a receiver that turns true at the stop, to shut down
/// cleanly, and has this long to do so.
fn serve<F>(
    exit_with_stdin: bool,
    server: impl FnOnce(tokio::sync::watch::Receiver<bool>) -> F,
) -> Result<u8, String>
where
    F: std::future::Future<Output = Result<(), String>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    runtime.block_on(async move {
        let server = server(stopping);
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result.map(|()| 0),
            _ = stop_requested(exit_with_stdin) => {
                let _ = stop.send(true);
                match tokio::time::timeout(std::time::Duration::from_secs(5), server).await {
                    Ok(result) => result.map(|()| 0),
                    Err(_) => Ok(0),
                }
            }
        }
    })
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Conform(args) => conform::run(args),
        Command::VerifyHistory(args) => verify_history::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Controller(args) => controller::run(args),
        Command::Broker(args) => broker::run(args),
        Command::Cluster(args) => cluster::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("kafka-oracle: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

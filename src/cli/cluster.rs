//! `kafka-oracle cluster`: a controller and N brokers as child processes
//! (this same executable) on free loopback ports, until Ctrl-C. Each child
//! reads its standard input from a pipe this process holds and exits when
//! it closes, so that the children go when this process goes, however it
//! goes (even by SIGKILL).

use super::properties_file::apply_settings;
use crate::broker::config::BrokerConfig;
use crate::controller::state::ControllerConfig;
use clap::Args;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ClusterArgs {
    /// How many brokers (ids 1 to N).
    #[arg(long, default_value_t = 3)]
    brokers: i32,
    /// Directory of the controller's state and the brokers' logs; kept
    /// across runs.
    #[arg(long, value_name = "DIR", default_value = "kafka-oracle-cluster")]
    data_dir: String,
    /// A setting by Kafka's name (repeatable), given to the controller, the
    /// brokers, or both, whichever knows it.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Settings from a Kafka .properties file, given the same way.
    #[arg(long, value_name = "FILE")]
    config: Option<String>,
}

/// How long a child has to say where it listens.
const START_WAIT: Duration = Duration::from_secs(30);
/// How long children have to stop cleanly before they are killed.
const STOP_WAIT: Duration = Duration::from_secs(10);

struct Process {
    name: String,
    child: Child,
    /// Dropping it closes the child's standard input: the child exits.
    stdin: Option<ChildStdin>,
}

pub fn run(args: ClusterArgs) -> Result<u8, String> {
    if !(1..=64).contains(&args.brokers) {
        return Err(format!("--brokers {}: between 1 and 64", args.brokers));
    }
    let (controller_sets, broker_sets) = split_settings(&args)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let dir = PathBuf::from(&args.data_dir);
    let mut processes = Vec::new();
    let started = start_all(
        &exe,
        &dir,
        args.brokers,
        &controller_sets,
        &broker_sets,
        &mut processes,
    );
    let result = started.and_then(|bootstrap| {
        say!("bootstrap {bootstrap}");
        say!("Ctrl-C stops the cluster; try: kcat -b {bootstrap} -L");
        wait_for_stop(&mut processes)
    });
    stop_all(&mut processes);
    result
}

/// Each setting goes to whichever of controller and broker knows it; a
/// setting neither knows is an error before anything starts.
fn split_settings(args: &ClusterArgs) -> Result<(Vec<String>, Vec<String>), String> {
    let mut controller_sets = Vec::new();
    let mut broker_sets = Vec::new();
    // A replicated cluster by default: topics get min(3, N) replicas.
    let replicas = args.brokers.min(3);
    controller_sets.push(format!("default.replication.factor={replicas}"));
    apply_settings(args.config.as_deref(), &args.set, |knob, value| {
        let pair = format!("{knob}={value}");
        let for_controller = ControllerConfig::default().set(knob, value);
        let for_broker = BrokerConfig::default().set(knob, value);
        match (&for_controller, &for_broker) {
            (Err(c), Err(b)) if c.starts_with("unknown") && b.starts_with("unknown") => {
                return Err(format!("unknown setting {knob:?}"))
            }
            (Err(e), _) if !e.starts_with("unknown") => return Err(e.clone()),
            (_, Err(e)) if !e.starts_with("unknown") => return Err(e.clone()),
            _ => {}
        }
        if for_controller.is_ok() {
            controller_sets.push(pair.clone());
        }
        if for_broker.is_ok() {
            broker_sets.push(pair);
        }
        Ok(())
    })?;
    Ok((controller_sets, broker_sets))
}

fn start_all(
    exe: &Path,
    dir: &Path,
    brokers: i32,
    controller_sets: &[String],
    broker_sets: &[String],
    processes: &mut Vec<Process>,
) -> Result<String, String> {
    let controller_dir = dir.join("controller");
    let mut args = vec![
        "controller".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        controller_dir.display().to_string(),
    ];
    args.extend(
        controller_sets
            .iter()
            .flat_map(|s| ["--set".to_string(), s.clone()]),
    );
    let controller = start(exe, "controller", &args, processes)?;
    say!("controller {controller}");
    let mut addresses = Vec::new();
    for id in 1..=brokers {
        let broker_dir = dir.join(format!("broker-{id}"));
        let mut args = vec![
            "broker".to_string(),
            "--node-id".into(),
            id.to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            broker_dir.display().to_string(),
            "--controller".into(),
            controller.clone(),
        ];
        args.extend(
            broker_sets
                .iter()
                .flat_map(|s| ["--set".to_string(), s.clone()]),
        );
        let address = start(exe, &format!("broker {id}"), &args, processes)?;
        say!("broker {id} {address}");
        addresses.push(address);
    }
    Ok(addresses.join(","))
}

/// Starts a child and returns the address it says it listens on; its
/// later output goes to this process's, line by line, named.
fn start(
    exe: &Path,
    name: &str,
    args: &[String],
    processes: &mut Vec<Process>,
) -> Result<String, String> {
    let mut child = Command::new(exe)
        .args(args)
        .arg("--exit-with-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the {name}: {e}"))?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    processes.push(Process {
        name: name.to_string(),
        child,
        stdin,
    });
    let stdout = stdout.ok_or_else(|| format!("no output from the {name}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let label = name.to_string();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        for line in lines.map_while(Result::ok) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "[{label}] {line}");
        }
    });
    let first = rx
        .recv_timeout(START_WAIT)
        .map_err(|_| format!("the {name} did not start (see its errors above)"))?;
    first
        .rsplit_once(" listening on ")
        .map(|(_, address)| address.trim().to_string())
        .ok_or_else(|| format!("the {name} said {first:?} instead of where it listens"))
}

/// Until Ctrl-C (or SIGTERM), or a child exits on its own.
fn wait_for_stop(processes: &mut [Process]) -> Result<u8, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let stop = super::stop_requested(false);
        tokio::pin!(stop);
        let mut interval = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(0),
                _ = interval.tick() => {
                    for p in processes.iter_mut() {
                        if let Ok(Some(status)) = p.child.try_wait() {
                            return Err(format!("the {} exited ({status}): stopping the cluster", p.name));
                        }
                    }
                }
            }
        }
    })
}

/// Closes every child's standard input (a clean stop), waits, and kills
/// whatever is still running after [`STOP_WAIT`].
fn stop_all(processes: &mut [Process]) {
    // Brokers first, so that the controller does not spend their last
    // moments electing.
    for p in processes.iter_mut().rev() {
        p.stdin = None;
    }
    let deadline = Instant::now() + STOP_WAIT;
    for p in processes.iter_mut().rev() {
        while Instant::now() < deadline {
            if !matches!(p.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(p.child.try_wait(), Ok(None)) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

//! A controller and brokers of this project as real processes on loopback,
//! for the tests that meet them as a user does: tests/cluster (with
//! kafka-python) and tests/probe.rs (with `kafka-oracle probe`).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const EXE: &str = env!("CARGO_BIN_EXE_kafka-oracle");

/// A free loopback port (free when asked; the process binds it soon after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

struct Process {
    child: Child,
    /// Held open: the child exits when it closes (`--exit-with-stdin`), so
    /// nothing outlives a failed test.
    stdin: Option<ChildStdin>,
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kafka-oracle ARGS` and waits until it says it listens; `None`
/// if it exits instead (its port was taken meanwhile, say).
fn start(args: &[String]) -> Option<Process> {
    let mut child = Command::new(EXE)
        .args(args)
        .arg("--exit-with-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("kafka-oracle starts");
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped stdout");
    let process = Process { child, stdin };
    first_line(stdout)
        .contains("listening on")
        .then_some(process)
}

/// Starts a process on a free port, trying another if one was taken
/// between finding it free and binding it (tests run side by side).
fn start_on_free_port(args: impl Fn(u16) -> Vec<String>) -> (Process, u16) {
    for _ in 0..5 {
        let port = free_port();
        if let Some(p) = start(&args(port)) {
            return (p, port);
        }
    }
    panic!("{:?} did not start on any of 5 free ports", args(0));
}

fn first_line(stdout: ChildStdout) -> String {
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the process writes where it listens");
    line
}

pub struct Cluster {
    /// Kept for its lifetime: dropped, the controller stops.
    _controller: Process,
    controller_port: u16,
    brokers: Vec<Option<Process>>,
    ports: Vec<u16>,
    broker_settings: Vec<String>,
    /// Declared last, so dropped last: the processes are gone before their
    /// directories are (not writing into removed ones, and saying so).
    pub dir: TempDir,
}

impl Cluster {
    /// A controller with `controller_settings` and brokers 1..=n with
    /// `broker_settings`.
    pub fn start(n: i32, controller_settings: &[&str], broker_settings: &[&str]) -> Cluster {
        Cluster::start_with(n, controller_settings, broker_settings, |_| {})
    }

    /// `start`, with `prepare` given the cluster's directory before any
    /// broker starts (to mount a small file system for one, say).
    pub fn start_with(
        n: i32,
        controller_settings: &[&str],
        broker_settings: &[&str],
        prepare: impl FnOnce(&std::path::Path),
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        prepare(dir.path());
        let state = dir.path().join("controller").display().to_string();
        let (controller, controller_port) = start_on_free_port(|port| {
            let mut args = vec![
                "controller".to_string(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--data-dir".into(),
                state.clone(),
            ];
            for s in controller_settings {
                args.extend(["--set".to_string(), s.to_string()]);
            }
            args
        });
        let mut cluster = Cluster {
            dir,
            _controller: controller,
            controller_port,
            brokers: Vec::new(),
            ports: Vec::new(),
            broker_settings: broker_settings.iter().map(|s| s.to_string()).collect(),
        };
        for id in 1..=n {
            let (p, port) = start_on_free_port(|port| cluster.broker_args(id, port));
            cluster.brokers.push(Some(p));
            cluster.ports.push(port);
        }
        cluster
    }

    fn broker_args(&self, id: i32, port: u16) -> Vec<String> {
        let mut args = vec![
            "broker".to_string(),
            "--node-id".into(),
            id.to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--data-dir".into(),
            self.broker_dir(id).display().to_string(),
            "--controller".into(),
            format!("127.0.0.1:{}", self.controller_port),
        ];
        for s in &self.broker_settings {
            args.extend(["--set".to_string(), s.clone()]);
        }
        args
    }

    pub fn broker_dir(&self, id: i32) -> PathBuf {
        self.dir.path().join(format!("broker-{id}"))
    }

    pub fn bootstrap(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The process id of a running broker, for a nemesis command to kill.
    pub fn pid(&self, id: i32) -> u32 {
        self.brokers[id as usize - 1]
            .as_ref()
            .expect("the broker is running")
            .child
            .id()
    }

    /// How a broker exited, if it has (then it is no longer running).
    pub fn exited(&mut self, id: i32) -> Option<std::process::ExitStatus> {
        let p = self.brokers[id as usize - 1].as_mut()?;
        let status = p.child.try_wait().expect("waitable")?;
        self.brokers[id as usize - 1] = None;
        Some(status)
    }

    /// kill -9.
    pub fn kill(&mut self, id: i32) {
        let mut p = self.brokers[id as usize - 1]
            .take()
            .expect("the broker is running");
        p.child.kill().expect("SIGKILL");
        p.child.wait().expect("reaped");
    }

    /// A clean stop: its stdin closes, it closes its logs and exits.
    pub fn stop(&mut self, id: i32) {
        let mut p = self.brokers[id as usize - 1]
            .take()
            .expect("the broker is running");
        p.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = p.child.try_wait() {
                assert!(status.success(), "broker {id} stopped with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("broker {id} did not stop within 15 s");
    }

    /// Starts a stopped broker again, on its port (clients know it).
    pub fn restart(&mut self, id: i32) {
        assert!(
            self.brokers[id as usize - 1].is_none(),
            "broker {id} is down"
        );
        let args = self.broker_args(id, self.ports[id as usize - 1]);
        let p = start(&args).unwrap_or_else(|| panic!("broker {id} did not restart"));
        self.brokers[id as usize - 1] = Some(p);
    }

    /// The controller's durable view of a partition.
    pub fn partition(&self, topic: &str, partition: usize) -> Option<Value> {
        let path = self.dir.path().join("controller/controller-state.json");
        let state: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        Some(state["topics"][topic]["partitions"][partition].clone())
    }

    /// Waits until the controller's view of the partition satisfies `ok`.
    pub fn wait_for(&self, topic: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(p) = self.partition(topic, 0).filter(|p| ok(p)) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "{topic}-0 never got {what}: {:?}",
                self.partition(topic, 0)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn leader(&self, topic: &str) -> i32 {
        let p = self.wait_for(topic, "a leader", |p| {
            p["leader"].as_i64().is_some_and(|l| l > 0)
        });
        p["leader"].as_i64().expect("a leader") as i32
    }

    pub fn isr(&self, topic: &str) -> Vec<i32> {
        let p = self.partition(topic, 0).expect("the topic exists");
        p["isr"]
            .as_array()
            .expect("an ISR")
            .iter()
            .map(|r| r.as_i64().expect("a broker id") as i32)
            .collect()
    }
}

//! kafka-python (tests/cluster/client.py) as the client of the cluster in
//! tests/support/processes.rs.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const EXE: &str = env!("CARGO_BIN_EXE_kafka-oracle");

/// The Python with kafka-python, made once per test run; `None` only when
/// there is no python3 at all.
pub fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if Command::new("python3").arg("--version").output().is_err() {
                eprintln!(
                    "SKIPPED: python3 is not installed; the cluster tests need it for kafka-python"
                );
                return None;
            }
            // The binary is <target>/<profile>/kafka-oracle.
            let target = Path::new(EXE).parent()?.parent()?.to_path_buf();
            let venv = target.join("pyvenv");
            let status = Command::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/cluster/python-env.sh"
            ))
            .arg(&venv)
            .status()
            .expect("the python environment script runs");
            assert!(status.success(), "installing kafka-python failed");
            Some(venv.join("bin/python"))
        })
        .clone()
}

/// `client.py ARGS`, with a callback on each progress line; returns its
/// last line, JSON.
pub fn client(python: &Path, args: &[&str], mut on_line: impl FnMut(&str)) -> Value {
    let mut child = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cluster/client.py"
        ))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut last = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("client output");
        on_line(&line);
        last = line;
    }
    let status = child.wait().expect("the client ends");
    assert!(status.success(), "client.py {args:?} failed: {status}");
    serde_json::from_str(&last)
        .unwrap_or_else(|e| panic!("client.py {args:?} ended with {last:?}: {e}"))
}

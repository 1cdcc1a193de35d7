//! A correct Kafka, simulated: one dense log per key, clients that send
//! unique values and poll every key from their own position, commit, and
//! crash back to their committed offsets. Every history it writes is valid;
//! [`Simulation::hide`] makes polls pass over one record as if the log had
//! lost it, which must be flagged.
//!
//! Shared by tests/history.rs and benches/history.rs.

use std::fmt::Write;

/// SplitMix64: small, seedable, good enough to pick operations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability percent/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

pub struct Simulation {
    pub processes: usize,
    pub keys: usize,
    /// Stop invoking new operations after this many lines; pending
    /// operations then complete and one client reads every log to its end.
    pub lines: usize,
    pub seed: u64,
    /// Polls leave this value out (its offset is still taken).
    pub hide: Option<i64>,
}

/// What a simulation did, besides writing its history.
pub struct Outcome {
    pub lines: usize,
    /// Acknowledged values with their key and offset.
    pub acked: Vec<(i64, usize, u64)>,
    /// Per key, the log's length at the end.
    pub log_lengths: Vec<u64>,
}

enum Pending {
    Send { key: usize, value: i64 },
    Poll,
    Commit,
    Crash,
}

struct Client {
    pending: Option<Pending>,
    /// Per key, the next offset to read.
    position: Vec<u64>,
    committed: Vec<u64>,
}

impl Simulation {
    /// Runs the simulation, handing each line (without its newline) to
    /// `emit`.
    pub fn run(&self, mut emit: impl FnMut(&str)) -> Outcome {
        let mut rng = Rng::new(self.seed);
        let mut logs: Vec<Vec<i64>> = vec![Vec::new(); self.keys];
        let mut clients: Vec<Client> = (0..self.processes)
            .map(|_| Client {
                pending: None,
                position: vec![0; self.keys],
                committed: vec![0; self.keys],
            })
            .collect();
        let mut out = Outcome {
            lines: 0,
            acked: Vec::new(),
            log_lengths: Vec::new(),
        };
        let mut next_value = 0i64;
        let mut line = String::with_capacity(256);
        let mut write = |line: &mut String,
                         out: &mut Outcome,
                         process: usize,
                         kind: &str,
                         f: &str,
                         value: &str| {
            line.clear();
            let _ = write!(
                line,
                "{{\"index\":{},\"time\":{},\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":{value}}}",
                out.lines,
                out.lines * 1000
            );
            emit(line);
            out.lines += 1;
        };
        let mut value_text = String::with_capacity(256);
        while out.lines < self.lines || clients.iter().any(|c| c.pending.is_some()) {
            let p = rng.below(self.processes);
            let c = &mut clients[p];
            match c.pending.take() {
                None if out.lines < self.lines => {
                    let roll = rng.below(100);
                    let (pending, f) = if roll < 48 {
                        let key = rng.below(self.keys);
                        let value = next_value;
                        next_value += 1;
                        value_text.clear();
                        let _ = write!(value_text, "[[\"send\",\"{key}\",{value}]]");
                        (Pending::Send { key, value }, "send")
                    } else if roll < 96 {
                        value_text.clear();
                        value_text.push_str("[[\"poll\"]]");
                        (Pending::Poll, "poll")
                    } else if roll < 99 {
                        offsets(&mut value_text, &c.position);
                        (Pending::Commit, "commit")
                    } else {
                        value_text.clear();
                        value_text.push_str("null");
                        (Pending::Crash, "crash")
                    };
                    write(&mut line, &mut out, p, "invoke", f, &value_text);
                    c.pending = Some(pending);
                }
                None => {}
                Some(Pending::Send { key, value }) => {
                    let roll = rng.below(100);
                    if roll < 94 {
                        let offset = logs[key].len() as u64;
                        logs[key].push(value);
                        out.acked.push((value, key, offset));
                        value_text.clear();
                        let _ = write!(value_text, "[[\"send\",\"{key}\",[{offset},{value}]]]");
                        write(&mut line, &mut out, p, "ok", "send", &value_text);
                    } else if roll < 97 {
                        value_text.clear();
                        let _ = write!(value_text, "[[\"send\",\"{key}\",{value}]]");
                        write(&mut line, &mut out, p, "fail", "send", &value_text);
                    } else {
                        // Unknown outcome: the record may or may not be in.
                        if rng.chance(50) {
                            logs[key].push(value);
                        }
                        write(&mut line, &mut out, p, "info", "send", "null");
                    }
                }
                Some(Pending::Poll) => {
                    let batch = 1 + rng.below(4) as u64;
                    poll(&mut value_text, &logs, &mut c.position, batch, self.hide);
                    write(&mut line, &mut out, p, "ok", "poll", &value_text);
                }
                Some(Pending::Commit) => {
                    c.committed.clone_from(&c.position);
                    offsets(&mut value_text, &c.committed);
                    write(&mut line, &mut out, p, "ok", "commit", &value_text);
                }
                Some(Pending::Crash) => {
                    c.position.clone_from(&c.committed);
                    write(&mut line, &mut out, p, "info", "crash", "null");
                }
            }
        }
        // The final reads: client 0 catches up with every log.
        let c = &mut clients[0];
        while c
            .position
            .iter()
            .zip(&logs)
            .any(|(&at, log)| at < log.len() as u64)
        {
            write(&mut line, &mut out, 0, "invoke", "poll", "[[\"poll\"]]");
            poll(&mut value_text, &logs, &mut c.position, 64, self.hide);
            write(&mut line, &mut out, 0, "ok", "poll", &value_text);
        }
        out.log_lengths = logs.iter().map(|l| l.len() as u64).collect();
        out
    }
}

fn offsets(text: &mut String, position: &[u64]) {
    text.clear();
    text.push('{');
    for (key, at) in position.iter().enumerate() {
        if key > 0 {
            text.push(',');
        }
        let _ = write!(text, "\"{key}\":{at}");
    }
    text.push('}');
}

/// Up to `batch` records of each key from the client's position on.
fn poll(text: &mut String, logs: &[Vec<i64>], position: &mut [u64], batch: u64, hide: Option<i64>) {
    text.clear();
    text.push_str("[[\"poll\",{");
    let mut first_key = true;
    for (key, log) in logs.iter().enumerate() {
        let from = position[key];
        let to = (from + batch).min(log.len() as u64);
        if from == to {
            continue;
        }
        if !first_key {
            text.push(',');
        }
        first_key = false;
        let _ = write!(text, "\"{key}\":[");
        let mut first = true;
        for offset in from..to {
            let value = log[offset as usize];
            if Some(value) == hide {
                continue;
            }
            if !first {
                text.push(',');
            }
            first = false;
            let _ = write!(text, "[{offset},{value}]");
        }
        text.push(']');
        position[key] = to;
    }
    text.push_str("}]]");
}

//! `kafka-oracle verify-history FILE`: judge a recorded history.

use crate::history::verify_with;
use clap::Args;
use kafka_oracle_properties::history::{Anomaly, Case, Checker, Report, Validity};
use std::fs::File;
use std::io::BufReader;

#[derive(Args)]
pub struct VerifyHistoryArgs {
    /// The history: JSON lines, one operation a line ("-" reads stdin).
    file: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Order transactions by the offsets of their sends too (Jepsen's
    /// --ww-deps): write cycles are reported (G0), and cycles through
    /// that order allowed (G0, G1c).
    #[arg(long)]
    ww_deps: bool,
}

/// The human report lists this many cases of each anomaly; --json all.
const SHOWN: usize = 20;

pub fn run(args: VerifyHistoryArgs) -> Result<u8, String> {
    let path = &args.file;
    let checker = Checker::with_ww_deps(args.ww_deps);
    let verdict = if path == "-" {
        verify_with(std::io::stdin().lock(), checker)
    } else {
        let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
        verify_with(BufReader::with_capacity(1 << 16, file), checker)
    };
    let report = verdict.map_err(|e| e.in_file(path))?;
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_report(path, &report);
    }
    Ok(exit_code(&report))
}

/// The exit code of a verdict: 0 valid, 1 invalid, 3 inconclusive.
pub(super) fn exit_code(report: &Report) -> u8 {
    match report.valid {
        Validity::Valid => 0,
        Validity::Invalid => super::EXIT_MISMATCH,
        Validity::Unknown => super::EXIT_INCONCLUSIVE,
    }
}

pub(super) fn print_report(path: &str, report: &Report) {
    for anomaly in Anomaly::ALL {
        let cases = report.anomalies.of(anomaly);
        for case in cases.iter().take(SHOWN) {
            say!("{}: {}", anomaly.name(), describe(case));
        }
        if cases.len() > SHOWN {
            say!(
                "{}: {} more (--json lists every case)",
                anomaly.name(),
                cases.len() - SHOWN
            );
        }
    }
    let count_of = |bad: bool| -> Vec<String> {
        Anomaly::ALL
            .iter()
            .map(|&a| {
                let n = report
                    .anomalies
                    .of(a)
                    .iter()
                    .filter(|c| c.allowed.is_none() == bad)
                    .count();
                (a, n)
            })
            .filter(|&(_, n)| n > 0)
            .map(|(a, n)| format!("{} {n}", a.name()))
            .collect()
    };
    let (counts, allowed) = (count_of(true), count_of(false));
    for u in &report.unjudged {
        say!(
            "not judged: the final read stopped short of the end of key {}; {} not judged (acknowledged and never polled, or polled and not read again)",
            u.key,
            count(u.values, "value", "values")
        );
    }
    let allowed = if allowed.is_empty() {
        String::new()
    } else {
        format!(" (allowed: {})", allowed.join(", "))
    };
    let verdict = match report.valid {
        Validity::Valid => format!("valid{allowed}"),
        Validity::Unknown => {
            let values: u64 = report.unjudged.iter().map(|u| u.values).sum();
            format!(
                "INCONCLUSIVE: no anomaly, but {} of {} the final read did not reach{allowed}",
                count(values, "value", "values"),
                count(report.unjudged.len() as u64, "key", "keys")
            )
        }
        Validity::Invalid => {
            let total = report
                .anomalies
                .total()
                .saturating_sub(report.anomalies.allowed()) as u64;
            format!(
                "INVALID, {}: {}{allowed}",
                count(total, "anomaly", "anomalies"),
                counts.join(", ")
            )
        }
    };
    say!(
        "{path}: {}, {}, {}; {verdict}",
        count(report.ops, "op", "ops"),
        count(report.keys as u64, "key", "keys"),
        count(report.values as u64, "value", "values")
    );
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn describe(case: &Case) -> String {
    let ops: Vec<String> = case
        .ops
        .iter()
        .map(|op| {
            format!(
                "line {} (index {}, process {} {} {})",
                op.line,
                op.index,
                op.process,
                op.kind.name(),
                op.f.name()
            )
        })
        .collect();
    let allowed = case
        .allowed
        .map_or(String::new(), |why| format!(" (allowed: {why})"));
    format!("{}; see {}{allowed}", case.why, ops.join(", "))
}

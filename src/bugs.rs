//! Realistic bugs of the broker's replication core and of the consumer
//! loop, for showing that conformance catches them. They exist only in
//! builds with the `inject-bugs` feature, which the crate's own tests turn
//! on; elsewhere every check of one is a constant `false` that the
//! compiler removes.

/// A bug the partition or the consumer loop can be built to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The high watermark passes ISR members that have not fetched yet.
    HighWatermarkBeforeIsr,
    /// A new follower truncates to its high watermark even in leader-epoch
    /// mode: KIP-101 undone.
    TruncateToHighWatermark,
    /// An ISR change from the controller is applied without its new
    /// partition epoch, so the leader's next request is stale.
    IsrChangeKeepsEpoch,
    /// acks=all is answered while the ISR is below min.insync.replicas.
    AcksAllBelowMinIsr,
    /// A consumer meant to commit after processing commits what `poll()`
    /// returned before processing it (`commitSync()` on the wrong line).
    CommitBeforeProcessing,
}

/// Every bug by the name `conform --inject-bug` takes.
pub const BUGS: &[(&str, Bug)] = &[
    ("high-watermark-before-isr", Bug::HighWatermarkBeforeIsr),
    ("truncate-to-high-watermark", Bug::TruncateToHighWatermark),
    ("isr-change-keeps-epoch", Bug::IsrChangeKeepsEpoch),
    ("acks-all-below-min-isr", Bug::AcksAllBelowMinIsr),
    ("commit-before-processing", Bug::CommitBeforeProcessing),
];

/// Whether this build has the bugs compiled in.
pub const AVAILABLE: bool = cfg!(feature = "inject-bugs");

/// The bug `conform --inject-bug NAME` asks for. A build without the bugs
/// (`available` false) refuses every name: it would replay every trace on a
/// correct broker that the harness then refuses to build, reporting each
/// trace as a divergence.
pub fn named(name: &str, available: bool) -> Result<Bug, String> {
    let bug = BUGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, bug)| bug)
        .ok_or_else(|| {
            let names: Vec<&str> = BUGS.iter().map(|(n, _)| *n).collect();
            format!("no bug '{name}'; known: {}", names.join(", "))
        })?;
    if !available {
        return Err(format!(
            "--inject-bug {name}: this kafka-oracle was built without the inject-bugs feature, so it has no bugs to inject (build it with --features inject-bugs)"
        ));
    }
    Ok(bug)
}

#[cfg(test)]
mod tests {
    use super::{named, Bug};

    #[test]
    fn a_build_without_the_bugs_refuses_to_inject_one() {
        assert_eq!(
            named("truncate-to-high-watermark", true),
            Ok(Bug::TruncateToHighWatermark)
        );
        let err = named("truncate-to-high-watermark", false).unwrap_err();
        assert!(
            err.contains("built without the inject-bugs feature"),
            "{err}"
        );
        let err = named("nope", true).unwrap_err();
        assert!(err.starts_with("no bug 'nope'; known: "), "{err}");
    }
}

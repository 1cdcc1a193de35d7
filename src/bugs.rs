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

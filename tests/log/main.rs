//! The log engine (src/log): its operations, recovery from torn and corrupt
//! files, a model-based property test, and a crash loop under SIGKILL.
//! Batches are built with the `kafka-protocol` crate's encoder, so the log
//! is also shown to read the format a real client writes.

mod api;
mod codec;
mod crash;
mod kafka;
mod model;
mod recovery;

//! Checkpoint files in Kafka's text format: a version line (`0`), a count
//! line, then one entry a line, fields separated by a space. Written whole
//! to a temporary file, fsynced, and renamed over the old one, so that a
//! crash leaves either the old or the new checkpoint, never a mixture.

use super::error::LogError;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

const VERSION: &str = "0";

/// Reads the entries of a checkpoint, each with exactly `fields` integers.
/// A missing file has no entries.
pub fn read(path: &Path, fields: usize) -> Result<Vec<Vec<i64>>, LogError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LogError::io(path, "read")(e)),
    };
    let bad = |line: usize, problem: String| LogError::Checkpoint {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let mut lines = text.lines();
    match lines.next() {
        Some(VERSION) => {}
        other => return Err(bad(1, format!("version {other:?}, expected {VERSION:?}"))),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad(2, "the second line must be the number of entries".into()))?;
    let mut entries = Vec::with_capacity(count.min(1024));
    for (i, line) in lines.enumerate() {
        let number = i + 3;
        let entry: Vec<i64> = line
            .split_whitespace()
            .map(|field| field.parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad(number, format!("{line:?} is not {fields} integers")))?;
        if entry.len() != fields {
            return Err(bad(number, format!("{line:?} is not {fields} integers")));
        }
        entries.push(entry);
    }
    if entries.len() != count {
        return Err(bad(
            2,
            format!("says {count} entries, the file has {}", entries.len()),
        ));
    }
    Ok(entries)
}

/// Replaces the checkpoint at `path` with `entries`, durably.
pub fn write(path: &Path, entries: &[Vec<i64>]) -> Result<(), LogError> {
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for entry in entries {
        let fields: Vec<String> = entry.iter().map(i64::to_string).collect();
        text.push_str(&fields.join(" "));
        text.push('\n');
    }
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(LogError::io(&tmp, "create"))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(LogError::io(&tmp, "write"))?;
    fs::rename(&tmp, path).map_err(LogError::io(path, "replace"))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes the names in a directory durable: a created, renamed or deleted
/// file survives a power loss only once its directory is fsynced.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LogError::io(dir, "fsync the directory"))
}

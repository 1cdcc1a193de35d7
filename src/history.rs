//! Reading a history for `verify-history`: JSON lines, one operation a line,
//! read once through a reused buffer and judged as they come by the
//! properties crate's [`Checker`]: plainly spelled lines by its own scanner,
//! any other through serde_json.

use kafka_oracle_properties::history::{Checker, LineError, Report};
use serde_json::error::Category;
use std::io::BufRead;

/// A history that cannot be judged, and where.
#[derive(Debug, PartialEq, Eq)]
pub struct BadInput {
    /// 1-based.
    pub line: u64,
    pub message: String,
}

impl BadInput {
    /// `FILE:LINE: what is wrong`, as compilers say it.
    pub fn in_file(&self, path: &str) -> String {
        format!("{path}:{}: {}", self.line, self.message)
    }
}

/// Judges the history `input` holds. Blank lines are skipped (and counted
/// for line numbers).
pub fn verify(input: impl BufRead) -> Result<Report, BadInput> {
    verify_with(input, Checker::new())
}

/// [`verify`] with a checker set up as the caller wants (say, with
/// write-write dependencies: [`Checker::with_ww_deps`]).
pub fn verify_with(mut input: impl BufRead, mut checker: Checker) -> Result<Report, BadInput> {
    let mut buf = Vec::with_capacity(512);
    let mut line = 0;
    loop {
        buf.clear();
        let read = input.read_until(b'\n', &mut buf).map_err(|e| BadInput {
            line: line + 1,
            message: format!("cannot read: {e}"),
        })?;
        if read == 0 {
            return Ok(checker.finish());
        }
        line += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let judged = match checker.read_plain(line, &buf) {
            Some(judged) => judged.map_err(LineError::Invalid),
            None => read_any(&mut checker, line, &buf),
        };
        judged.map_err(|e| BadInput {
            line,
            message: describe(e),
        })?;
    }
}

/// A line of any spelling, through serde_json.
fn read_any(
    checker: &mut Checker,
    line: u64,
    buf: &[u8],
) -> Result<(), LineError<serde_json::Error>> {
    // Checked whole, the line's strings need no checking one by one.
    let text = std::str::from_utf8(buf).map_err(|e| {
        LineError::Invalid(format!("not UTF-8 text (byte {})", e.valid_up_to() + 1))
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    checker.read(line, &mut de)?;
    de.end().map_err(LineError::Parse)
}

fn describe(e: LineError<serde_json::Error>) -> String {
    let e = match e {
        LineError::Invalid(message) => return message,
        LineError::Parse(e) => e,
    };
    // serde_json places the error on "line 1" of the one line it was given.
    let message = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    let message = message.strip_suffix(&at).unwrap_or(&message);
    let column = match e.column() {
        0 => String::new(),
        c => format!(" (column {c})"),
    };
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!("not JSON: {message}{column}"),
        Category::Data => format!("{message}{column}"),
    }
}

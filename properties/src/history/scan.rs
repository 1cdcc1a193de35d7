//! A hand-written reader for lines spelled the plain way: strings without
//! escapes, integers, and only the fields the checker reads (plus an integer
//! `time`), which is how recorders write. It gives exactly what the serde
//! reader ([`super::parse`]) gives, or declines, and the line is then read
//! by serde, which also words the errors. Serde's generic machinery costs
//! about twice the bare parse of a line, and a history's polls return many
//! records.

use super::keys::Keys;
use super::op::{MicroOps, Op, Record, Sent, Shape, Type, Value, F};
use crate::observation::Offset;

/// The operation on `line`, its micro-operations in `mops`; `None` if the
/// line is not spelled the plain way (whether or not it is valid).
pub fn scan(line: &[u8], keys: &mut Keys, mops: &mut MicroOps) -> Option<Op> {
    mops.clear();
    let mut c = Cursor { s: line, at: 0 };
    c.eat(b'{')?;
    let (mut index, mut process, mut kind, mut f, mut shape) = (None, None, None, None, None);
    let mut final_read = None;
    loop {
        let field = c.string()?;
        c.eat(b':')?;
        match field {
            b"index" => once(&mut index, c.uint()?)?,
            b"process" => once(&mut process, u32::try_from(c.uint()?).ok()?)?,
            b"type" => once(&mut kind, Type::from_name(c.str()?)?)?,
            b"f" => once(&mut f, F::from_name(c.str()?)?)?,
            b"value" => once(&mut shape, value(&mut c, keys, mops)?)?,
            b"time" => {
                c.int()?;
            }
            b"final" => once(&mut final_read, c.bool()?)?,
            _ => return None,
        }
        if !c.more(b'}')? {
            break;
        }
    }
    c.ws();
    if c.at != line.len() {
        return None;
    }
    Some(Op {
        index: index?,
        process: process?,
        kind: kind?,
        f: f?,
        shape: shape.unwrap_or(Shape::Absent),
        final_read: final_read.unwrap_or(false),
    })
}

/// Sets a field once; a second one is for serde to refuse.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After an element: true on a comma, false on `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        self.at += 1;
        match next {
            b',' => Some(true),
            b if b == close => Some(false),
            _ => None,
        }
    }

    /// A string's bytes, if it has no escape and no control character.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match *self.s.get(self.at)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        Some(&self.s[start..self.at - 1])
    }

    fn bool(&mut self) -> Option<bool> {
        self.ws();
        let rest = &self.s[self.at..];
        let (value, len) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.at += len;
        Some(value)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.string()?).ok()
    }

    /// Digits without a sign, a leading zero, a fraction or an exponent.
    fn uint(&mut self) -> Option<u64> {
        self.ws();
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.s.get(self.at) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.s[start] == b'0';
        let fraction = matches!(self.s.get(self.at), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !fraction).then_some(n)
    }

    fn int(&mut self) -> Option<i64> {
        if self.peek()? != b'-' {
            return i64::try_from(self.uint()?).ok();
        }
        self.at += 1;
        let magnitude = self.uint()?;
        // Serde reads "-0" as a signed zero; leave it to serde.
        if magnitude == 0 {
            return None;
        }
        i64::try_from(-i128::from(magnitude)).ok()
    }

    fn null(&mut self) -> Option<()> {
        self.ws();
        self.s[self.at..].starts_with(b"null").then(|| self.at += 4)
    }

    fn key(&mut self, keys: &mut Keys) -> Option<u32> {
        match self.peek()? {
            b'"' => keys.id(self.str()?).ok(),
            _ => keys.id_of_number(self.int()?.into()).ok(),
        }
    }
}

fn value(c: &mut Cursor, keys: &mut Keys, mops: &mut MicroOps) -> Option<Shape> {
    match c.peek()? {
        b'n' => {
            c.null()?;
            Some(Shape::Absent)
        }
        b'{' => {
            c.at += 1;
            if c.peek()? == b'}' {
                c.at += 1;
                return Some(Shape::Offsets);
            }
            loop {
                c.string()?;
                c.eat(b':')?;
                c.uint()?;
                if !c.more(b'}')? {
                    return Some(Shape::Offsets);
                }
            }
        }
        b'[' => {
            c.at += 1;
            match c.peek()? {
                b']' => {
                    c.at += 1;
                    Some(Shape::Empty)
                }
                b'[' => loop {
                    micro_op(c, keys, mops)?;
                    if !c.more(b']')? {
                        return Some(Shape::MicroOps);
                    }
                },
                _ => loop {
                    // A list of keys: checked, not numbered, as serde does.
                    let known = match c.peek()? {
                        b'"' => keys.find(c.str()?),
                        _ => keys.find_number(c.int()?.into()),
                    };
                    mops.keys.extend(known);
                    if !c.more(b']')? {
                        return Some(Shape::Keys);
                    }
                },
            }
        }
        _ => None,
    }
}

fn micro_op(c: &mut Cursor, keys: &mut Keys, mops: &mut MicroOps) -> Option<()> {
    c.eat(b'[')?;
    match c.string()? {
        b"send" => {
            c.eat(b',')?;
            let key = c.key(keys)?;
            c.eat(b',')?;
            let (offset, value) = if c.peek()? == b'[' {
                c.at += 1;
                let offset = if c.peek()? == b'n' {
                    c.null()?;
                    None
                } else {
                    Some(c.uint()?)
                };
                c.eat(b',')?;
                let value = c.int()?;
                c.eat(b']')?;
                (offset, value)
            } else {
                (None, c.int()?)
            };
            c.eat(b']')?;
            mops.sends.push(Sent { key, value, offset });
        }
        b"poll" => {
            mops.polls += 1;
            if c.more(b']')? {
                records(c, keys, &mut mops.records)?;
                c.eat(b']')?;
            }
        }
        _ => return None,
    }
    Some(())
}

/// `{key: [[offset, value], ...], ...}`
fn records(c: &mut Cursor, keys: &mut Keys, records: &mut Vec<Record>) -> Option<()> {
    c.eat(b'{')?;
    if c.peek()? == b'}' {
        c.at += 1;
        return Some(());
    }
    loop {
        let key = keys.id(c.str()?).ok()?;
        c.eat(b':')?;
        c.eat(b'[')?;
        if c.peek()? == b']' {
            c.at += 1;
        } else {
            loop {
                c.eat(b'[')?;
                let offset: Offset = c.uint()?;
                c.eat(b',')?;
                let value: Value = c.int()?;
                c.eat(b']')?;
                records.push(Record { key, offset, value });
                if !c.more(b']')? {
                    break;
                }
            }
        }
        if !c.more(b'}')? {
            return Some(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scan;
    use crate::history::keys::Keys;
    use crate::history::op::{MicroOps, Op};
    use crate::history::parse::LineSeed;
    use proptest::prelude::*;
    use serde::de::DeserializeSeed;

    type Read = (Op, MicroOps, Vec<String>);

    fn names(keys: &Keys) -> Vec<String> {
        (0..keys.len() as u32)
            .map(|k| keys.name(k).to_string())
            .collect()
    }

    fn by_scan(line: &str) -> Option<Read> {
        let (mut keys, mut mops) = (Keys::default(), MicroOps::default());
        let op = scan(line.as_bytes(), &mut keys, &mut mops)?;
        Some((op, mops, names(&keys)))
    }

    fn by_serde(line: &str) -> Option<Read> {
        let (mut keys, mut mops) = (Keys::default(), MicroOps::default());
        let mut de = serde_json::Deserializer::from_str(line);
        let seed = LineSeed {
            keys: &mut keys,
            mops: &mut mops,
        };
        let op = seed.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some((op, mops, names(&keys)))
    }

    /// What the scanner reads, serde reads the same; what it declines,
    /// serde reads or refuses.
    fn agree(line: &str) -> Result<(), TestCaseError> {
        if let Some(scanned) = by_scan(line) {
            let Some(read) = by_serde(line) else {
                return Err(TestCaseError::fail(format!("serde refuses {line}")));
            };
            prop_assert_eq!(&scanned.0, &read.0, "{}", line);
            prop_assert_eq!(&scanned.1.sends, &read.1.sends, "{}", line);
            prop_assert_eq!(&scanned.1.records, &read.1.records, "{}", line);
            prop_assert_eq!(scanned.1.polls, read.1.polls, "{}", line);
            prop_assert_eq!(&scanned.2, &read.2, "{}", line);
        }
        Ok(())
    }

    const PLAIN: &[&str] = &[
        r#"{"index": 0, "time": 1974, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", 17]]}"#,
        r#"{"index":1,"time":-5,"process":0,"type":"ok","f":"send","value":[["send","0",[42,17]],["send",3,[null,-9223372036854775808]]]}"#,
        r#"{"index": 2, "process": 1, "type": "invoke", "f": "poll", "value": [["poll"]]}"#,
        r#" { "index" : 3 , "process" : 1 , "type" : "ok" , "f" : "poll" , "value" : [ [ "poll" , { "0" : [ [ 41 , 16 ] , [ 42 , 17 ] ] , "1" : [ ] } ] ] } "#,
        r#"{"index": 4, "process": 1, "type": "ok", "f": "poll", "value": [["poll", {}], ["poll"]]}"#,
        r#"{"index": 5, "process": 1, "type": "invoke", "f": "commit", "value": {"0": 43, "1": 0}}"#,
        r#"{"index": 6, "process": 1, "type": "ok", "f": "commit", "value": {}}"#,
        r#"{"index": 7, "process": 1, "type": "invoke", "f": "assign", "value": ["0", 1, -2]}"#,
        r#"{"index": 8, "process": 1, "type": "ok", "f": "subscribe", "value": []}"#,
        r#"{"index": 9, "process": 4294967295, "type": "info", "f": "crash", "value": null}"#,
        r#"{"index": 10, "process": 2, "type": "fail", "f": "send"}"#,
        r#"{"f": "send", "type": "fail", "process": 2, "index": 18446744073709551615}"#,
    ];

    /// Declined, though serde reads them (or refuses them with a reason).
    const NOT_PLAIN: &[&str] = &[
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "crash", "error": "x"}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "crash", "time": 1.5}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "\u0030", 1]]}"#,
        r#"{"index": -0, "process": 0, "type": "invoke", "f": "crash"}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", -0]]}"#,
        r#"{"index": 01, "process": 0, "type": "invoke", "f": "crash"}"#,
        r#"{"index": 1e2, "process": 0, "type": "invoke", "f": "crash"}"#,
        r#"{"index": 0, "index": 0, "process": 0, "type": "invoke", "f": "crash"}"#,
        r#"{"index": 0, "process": 0, "type": "invoke"}"#,
        r#"{"index": 0, "process": 4294967296, "type": "invoke", "f": "crash"}"#,
        r#"{"index": 18446744073709551616, "process": 0, "type": "invoke", "f": "crash"}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "crash"} x"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "crash",}"#,
        r#"{"index": 0, "process": 0, "type": "done", "f": "crash"}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "poll", "value": [["poll", {"0": [[1, 2, 3]]}]]}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "assign", "value": ["0", ["1"]]}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", 1], "0"]}"#,
        r#"{}"#,
        "",
    ];

    #[test]
    fn plain_lines_are_scanned_as_serde_reads_them() {
        for line in PLAIN {
            assert!(by_scan(line).is_some(), "declined {line}");
            agree(line).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn other_spellings_are_left_to_serde() {
        for line in NOT_PLAIN {
            assert!(by_scan(line).is_none(), "scanned {line}");
        }
    }

    proptest! {
        #[test]
        fn a_changed_line_is_scanned_as_serde_reads_it_or_declined(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(b" \t,:[]{}\"-0123456789.enul\\xa".to_vec())),
                1..4,
            ),
        ) {
            let mut line = pick.get(PLAIN).as_bytes().to_vec();
            for (at, byte) in edits {
                let i = at.index(line.len());
                line[i] = byte;
            }
            if let Ok(line) = std::str::from_utf8(&line) {
                agree(line)?;
            }
        }
    }
}

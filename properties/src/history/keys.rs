//! Key names, numbered in the order they first appear, so the checker's
//! per-key state is indexed by a small number instead of hashed by a name.

use super::op::KeyId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug)]
pub struct Keys {
    /// The last short names found, by a hash of their word: a history
    /// names the same few keys line after line.
    recent: [(u64, KeyId); 64],
    /// Names of up to 7 bytes, packed into a word with their length: most
    /// keys are partition numbers, found without comparing bytes.
    short: HashMap<u64, KeyId, BuildHasherDefault<Fx>>,
    long: HashMap<Box<str>, KeyId, BuildHasherDefault<Fx>>,
    names: Vec<Box<str>>,
}

/// Not a packed name: its length byte would be 255.
const NO_NAME: u64 = u64::MAX;

impl Default for Keys {
    fn default() -> Keys {
        Keys {
            recent: [(NO_NAME, 0); 64],
            short: HashMap::default(),
            long: HashMap::default(),
            names: Vec::new(),
        }
    }
}

fn recent_slot(word: u64) -> usize {
    (word.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize
}

fn packed(name: &str) -> Option<u64> {
    let bytes = name.as_bytes();
    if bytes.len() > 7 {
        return None;
    }
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    word[7] = bytes.len() as u8;
    Some(u64::from_le_bytes(word))
}

/// Every key of every record is looked up, and names are short: the
/// multiply-rotate hash of rustc (FxHash) costs a fraction of SipHash.
/// Hash flooding is no threat to a checker of one's own files.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(n.into());
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Reading more than `u32::MAX` distinct keys is refused, not wrapped.
#[derive(Debug, PartialEq, Eq)]
pub struct TooManyKeys;

impl Keys {
    pub fn id(&mut self, name: &str) -> Result<KeyId, TooManyKeys> {
        let Some(word) = packed(name) else {
            if let Some(&id) = self.long.get(name) {
                return Ok(id);
            }
            let id = self.add(name)?;
            self.long.insert(name.into(), id);
            return Ok(id);
        };
        let recent = &mut self.recent[recent_slot(word)];
        if recent.0 == word {
            return Ok(recent.1);
        }
        let id = match self.short.get(&word) {
            Some(&id) => id,
            None => {
                let id = self.add(name)?;
                self.short.insert(word, id);
                id
            }
        };
        self.recent[recent_slot(word)] = (word, id);
        Ok(id)
    }

    fn add(&mut self, name: &str) -> Result<KeyId, TooManyKeys> {
        let id = KeyId::try_from(self.names.len()).map_err(|_| TooManyKeys)?;
        self.names.push(name.into());
        Ok(id)
    }

    /// An integer key is the key its decimal spelling names, so Jepsen's
    /// integer keys in sends meet the string keys of poll results.
    pub fn id_of_number(&mut self, n: i128) -> Result<KeyId, TooManyKeys> {
        let mut digits = [0u8; 40];
        let mut at = digits.len();
        let mut rest = n.unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if n < 0 {
            at -= 1;
            digits[at] = b'-';
        }
        // Only ASCII digits and '-' were written.
        let name = std::str::from_utf8(&digits[at..]).unwrap_or_default();
        self.id(name)
    }

    /// The number of a key already seen, without numbering a new one.
    pub fn find(&self, name: &str) -> Option<KeyId> {
        match packed(name) {
            Some(word) => self.short.get(&word).copied(),
            None => self.long.get(name).copied(),
        }
    }

    /// [`Keys::find`] for an integer key, spelled as [`Keys::id_of_number`]
    /// spells it.
    pub fn find_number(&self, n: i128) -> Option<KeyId> {
        self.find(&n.to_string())
    }

    pub fn name(&self, id: KeyId) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn numbers_keys_in_order_and_spells_integers_as_decimal() {
        let mut keys = Keys::default();
        assert_eq!(keys.id("0"), Ok(0));
        assert_eq!(keys.id("orders"), Ok(1));
        assert_eq!(keys.id_of_number(0), Ok(0));
        assert_eq!(keys.id_of_number(-12), Ok(2));
        assert_eq!(keys.id("-12"), Ok(2));
        assert_eq!(keys.name(1), "orders");
        assert_eq!(keys.id("a longer key name"), Ok(3));
        assert_eq!(keys.id("a longer key name"), Ok(3));
        assert_eq!(keys.id("0\0"), Ok(4), "a NUL does not alias a shorter name");
        assert_eq!(keys.len(), 5);
    }
}

//! A map from integers that is a vector while its keys are dense: offsets of
//! a log, values a generator numbers in turn, process numbers. A history's
//! records are read in runs of neighbouring offsets, so a vector keeps them
//! next to each other in memory where a hash map would scatter them. Keys
//! too far from the rest go to an ordered map, so the vector never holds
//! more empty slots than filled ones (plus a constant): memory stays in
//! proportion to the keys, whatever they are.

use std::collections::BTreeMap;
use std::ops::Range;

pub struct DenseMap<T> {
    /// `slots[i]` holds key `base + i`.
    base: u64,
    slots: Vec<Option<T>>,
    filled: usize,
    /// Keys outside `base..base + slots.len()`.
    rest: BTreeMap<u64, T>,
}

/// Empty slots the vector may hold beyond one per filled slot.
const SLACK: usize = 64;

impl<T> Default for DenseMap<T> {
    fn default() -> Self {
        DenseMap {
            base: 0,
            slots: Vec::new(),
            filled: 0,
            rest: BTreeMap::new(),
        }
    }
}

impl<T> DenseMap<T> {
    #[inline]
    fn index(&self, key: u64) -> Option<usize> {
        let i = usize::try_from(key.checked_sub(self.base)?).ok()?;
        (i < self.slots.len()).then_some(i)
    }

    pub fn get(&self, key: u64) -> Option<&T> {
        match self.index(key) {
            Some(i) => self.slots[i].as_ref(),
            None => self.rest.get(&key),
        }
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        match self.index(key) {
            Some(i) => self.slots[i].as_mut(),
            None => self.rest.get_mut(&key),
        }
    }

    /// The entry for `key`, made with `make` if there is none, and whether
    /// it was just made.
    #[inline]
    pub fn entry(&mut self, key: u64, make: impl FnOnce() -> T) -> (&mut T, bool) {
        match self.index(key) {
            Some(i) => {
                let slot = &mut self.slots[i];
                let made = slot.is_none();
                self.filled += usize::from(made);
                (slot.get_or_insert_with(make), made)
            }
            None => self.entry_outside(key, make),
        }
    }

    fn entry_outside(&mut self, key: u64, make: impl FnOnce() -> T) -> (&mut T, bool) {
        if self.slots.is_empty() && self.rest.is_empty() {
            self.base = key;
        }
        if let Some(i) = self.grow_to(key) {
            self.filled += 1;
            return (self.slots[i].get_or_insert_with(make), true);
        }
        let mut made = false;
        let value = self.rest.entry(key).or_insert_with(|| {
            made = true;
            make()
        });
        (value, made)
    }

    /// Extends the vector up to `key` if that keeps it dense enough, moving
    /// in what the ordered map held of the new range.
    fn grow_to(&mut self, key: u64) -> Option<usize> {
        let i = usize::try_from(key.checked_sub(self.base)?).ok()?;
        if i >= 2 * self.filled + SLACK {
            return None;
        }
        let from = self.slots.len();
        self.slots.resize_with(i + 1, || None);
        let moved: Vec<u64> = self
            .rest
            .range(self.base + from as u64..=key)
            .map(|(&k, _)| k)
            .collect();
        for k in moved {
            if let Some(v) = self.rest.remove(&k) {
                self.slots[(k - self.base) as usize] = Some(v);
                self.filled += 1;
            }
        }
        Some(i)
    }

    /// The entry with the smallest key in `keys`, if any.
    pub fn first_in(&self, keys: Range<u64>) -> Option<(u64, &T)> {
        let in_rest = self.rest.range(keys.clone()).next().map(|(&k, v)| (k, v));
        let lo = keys.start.max(self.base);
        let hi = keys
            .end
            .min(self.base.saturating_add(self.slots.len() as u64));
        let in_slots = (lo..hi).find_map(|k| self.get(k).map(|v| (k, v)));
        match (in_slots, in_rest) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    pub fn len(&self) -> usize {
        self.filled + self.rest.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        let base = self.base;
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(i, v)| v.as_ref().map(|v| (base + i as u64, v)))
            .chain(self.rest.iter().map(|(&k, v)| (k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::DenseMap;

    #[test]
    fn dense_keys_live_in_the_vector_and_far_ones_in_the_ordered_map() {
        let mut m = DenseMap::default();
        for k in 100..200 {
            assert!(m.entry(k, || k * 2).1);
        }
        assert_eq!(m.slots.len(), 100);
        assert!(!m.entry(150, || 0).1, "150 was there");
        m.entry(1_000_000, || 7);
        m.entry(5, || 5);
        assert_eq!(m.rest.len(), 2, "far keys and keys below the base");
        assert_eq!(m.get(1_000_000), Some(&7));
        assert_eq!(m.get(5), Some(&5));
        assert_eq!(m.get(150), Some(&300));
        assert_eq!(m.get(99), None);
        assert_eq!(m.len(), 102);
        assert_eq!(m.first_in(201..2_000_000), Some((1_000_000, &7)));
        assert_eq!(m.first_in(0..150), Some((5, &5)));
        assert_eq!(m.first_in(6..100), None);
        let keys: Vec<u64> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 102);
    }

    #[test]
    fn growing_over_keys_held_apart_moves_them_in() {
        let mut m = DenseMap::default();
        m.entry(0, || 0);
        m.entry(100, || 100);
        assert_eq!(m.rest.len(), 1);
        for k in 1..60 {
            m.entry(k, || k);
        }
        m.entry(101, || 101);
        assert!(m.rest.is_empty(), "100 moved into the vector");
        assert_eq!(m.get(100), Some(&100));
        assert_eq!(m.len(), 62);
        assert!(!m.entry(100, || 0).1);
    }
}

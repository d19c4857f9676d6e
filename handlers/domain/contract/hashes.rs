//! The uniqueness state of the evaluator: a set of 64-bit value hashes (xxh3, already uniformly
//! spread), open addressing with linear probing, filled in batches so that the memory of a whole
//! batch is fetched at once instead of one cache miss after another.

/// How many values are looked up together.
pub(super) const BATCH: usize = 32;

#[derive(Debug, Clone)]
pub(super) struct HashSet64 {
    /// 0 marks an empty slot; the value 0 itself is kept in `has_zero`.
    slots: Vec<u64>,
    len: usize,
    has_zero: bool,
}

impl Default for HashSet64 {
    fn default() -> Self {
        Self { slots: written_zeros(1024), len: 0, has_zero: false }
    }
}

/// A table of zeros that is written, not `calloc`ed: lazily zeroed pages would first be mapped
/// read-only by the lookups and then copied on the first insert, each copy flushing the other
/// core's TLB while the second half of the file is read there.
#[allow(clippy::slow_vector_initialization)] // the write is the point
fn written_zeros(size: usize) -> Vec<u64> {
    let mut v = Vec::with_capacity(size);
    v.resize(size, 0);
    v
}

impl HashSet64 {
    pub(super) fn len(&self) -> usize {
        self.len + usize::from(self.has_zero)
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Makes room for `more` values without growing again (the table stays at most 3/4 full).
    pub(super) fn reserve(&mut self, more: usize) {
        let want = ((self.len + more) * 4).div_ceil(3).next_power_of_two().max(1024);
        if want > self.slots.len() {
            self.rebuild(want);
        }
    }

    fn rebuild(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, written_zeros(size));
        let mask = self.mask();
        for h in old.into_iter().filter(|h| *h != 0) {
            let mut i = h as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = h;
        }
    }

    /// Adds `h`; false when it was there already.
    pub(super) fn insert(&mut self, h: u64) -> bool {
        if h == 0 {
            return !std::mem::replace(&mut self.has_zero, true);
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rebuild(self.slots.len() * 2);
        }
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = h;
                    self.len += 1;
                    return true;
                }
                x if x == h => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub(super) fn contains(&self, h: u64) -> bool {
        if h == 0 {
            return self.has_zero;
        }
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            match self.slots[i] {
                0 => return false,
                x if x == h => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Inserts a batch in order, calling `seen_before(item)` for each value that was already
    /// there. The batch's slots are read first, all at once, so their cache misses overlap.
    pub(super) fn insert_batch<T: Copy>(&mut self, items: &[(T, u64)], mut seen_before: impl FnMut(T, u64)) {
        self.reserve(items.len());
        let mask = self.mask();
        let mut touched = 0u64;
        for (_, h) in items {
            touched = touched.wrapping_add(self.slots[*h as usize & mask]);
        }
        std::hint::black_box(touched);
        for (item, h) in items {
            if !self.insert(*h) {
                seen_before(*item, *h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_and_growth_agree_with_std() {
        let mut ours = HashSet64::default();
        let mut std_set = std::collections::HashSet::new();
        // Small numbers collide in the low bits on purpose; 0 is a value like any other.
        for i in 0..50_000u64 {
            let h = if i % 7 == 0 { i % 300 } else { xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()) % 20_000 };
            assert_eq!(ours.insert(h), std_set.insert(h), "value {h}");
        }
        assert_eq!(ours.len(), std_set.len());
        for h in 0..25_000u64 {
            assert_eq!(ours.contains(h), std_set.contains(&h), "value {h}");
        }
    }

    #[test]
    fn batches_report_repeats_in_order() {
        let mut set = HashSet64::default();
        let items: Vec<(u64, u64)> = [5u64, 9, 5, 0, 0, 9, 5, 7].iter().enumerate().map(|(row, h)| (row as u64 + 1, *h)).collect();
        let mut repeats = Vec::new();
        set.insert_batch(&items, |row, _| repeats.push(row));
        assert_eq!(repeats, vec![3, 5, 6, 7]);
        assert_eq!(set.len(), 4);
    }
}

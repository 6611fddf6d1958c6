//! Fast, non-cryptographic hashing for the engine's in-memory indexes.
//!
//! Operation ids and ARNs are hashed on every checkpoint; SipHash (the std
//! default) costs more than the rest of a checkpoint's index work. This uses
//! rustc's Fx hash (the `rustc-hash` crate), plus an index from operation id
//! to record that stores only the 64-bit hash of each id instead of a second
//! copy of it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub(crate) use rustc_hash::FxHashMap;
use rustc_hash::FxHasher;

/// Folds stray bytes into a prehashed key (never used for `u64` keys).
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// A hasher for keys that are already hashes (it keeps the `u64` as is).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PrehashedHasher {
    hash: u64,
}

impl Hasher for PrehashedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are used; fold anything else in, just in case.
        for &b in bytes {
            self.hash = (self.hash.rotate_left(8) ^ u64::from(b)).wrapping_mul(SEED);
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.hash = i;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

fn hash_id(id: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(id.as_bytes());
    // Mix the length in, as `str`'s `Hash` does.
    hasher.write_usize(id.len());
    hasher.finish()
}

/// Operation id → record index, storing the id's hash rather than the id.
/// The caller resolves a hit against the record's real id; the rare ids whose
/// hash collides with another's go to `overflow`, keyed by the id itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct OpIndex {
    by_hash: HashMap<u64, u32, BuildHasherDefault<PrehashedHasher>>,
    overflow: FxHashMap<String, u32>,
}

impl OpIndex {
    /// The index of `id`, given `id_at` to read the id of a record.
    #[inline]
    pub(crate) fn get<'a>(&self, id: &str, id_at: impl Fn(u32) -> Option<&'a str>) -> Option<u32> {
        let hit = self.by_hash.get(&hash_id(id)).copied();
        if let Some(index) = hit
            && id_at(index) == Some(id)
        {
            return Some(index);
        }
        if self.overflow.is_empty() {
            None
        } else {
            self.overflow.get(id).copied()
        }
    }

    /// Adds a new id (not yet in the index) at `index`.
    pub(crate) fn insert(&mut self, id: &str, index: u32) {
        match self.by_hash.entry(hash_id(id)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(index);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.overflow.insert(id.to_owned(), index);
            }
        }
    }
}

/// For tests: a `BuildHasher` check that equal strings hash equally.
#[cfg(test)]
fn fx_hash_str(s: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_equally_and_different_ones_differ() {
        assert_eq!(fx_hash_str("abc"), fx_hash_str("abc"));
        assert_ne!(fx_hash_str("abc"), fx_hash_str("abd"));
        assert_ne!(hash_id("a"), hash_id("a\0"));
    }

    #[test]
    fn the_index_resolves_collisions_through_the_overflow_map() {
        let ids = ["first", "second", "third"];
        let mut index = OpIndex::default();
        index.insert("first", 0);
        index.insert("second", 1);
        let id_at = |i: u32| ids.get(i as usize).copied();
        assert_eq!(index.get("first", id_at), Some(0));
        assert_eq!(index.get("second", id_at), Some(1));
        assert_eq!(index.get("third", id_at), None);
        // Force a collision: "third" lands on the hash of "first".
        index.by_hash.insert(hash_id("third"), 0);
        assert_eq!(index.get("third", id_at), None);
        index.overflow.insert("third".to_owned(), 2);
        assert_eq!(index.get("third", id_at), Some(2));
        // Inserting an id whose hash is taken goes to overflow.
        let mut index = OpIndex::default();
        index.by_hash.insert(hash_id("x"), 7);
        index.insert("x", 3);
        assert_eq!(
            index.get("x", |i| if i == 3 { Some("x") } else { Some("y") }),
            Some(3)
        );
    }
}

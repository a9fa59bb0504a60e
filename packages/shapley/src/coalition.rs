//! Coalitions: sets of players as bitsets of any size.

use std::fmt;

use crate::error::ShapleyError;

/// A set of players `0..n`, stored as a bitset of 64-bit words so any `n` works.
///
/// Two coalitions are equal when they are over the same number of players and have the
/// same members.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Coalition {
    n: usize,
    words: Vec<u64>,
}

fn word_count(n: usize) -> usize {
    n.div_ceil(64)
}

impl Coalition {
    /// The empty coalition over `n` players.
    pub fn empty(n: usize) -> Self {
        Self {
            n,
            words: vec![0; word_count(n)],
        }
    }

    /// The grand coalition of all `n` players.
    pub fn full(n: usize) -> Self {
        let mut c = Self::empty(n);
        for (k, w) in c.words.iter_mut().enumerate() {
            let bits = (n - 64 * k).min(64);
            *w = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
        }
        c
    }

    /// A coalition of at most 64 players from a bit mask (bit `i` set means player `i` is in).
    pub fn from_mask(n: usize, mask: u64) -> Result<Self, ShapleyError> {
        if n < 64 && mask >> n != 0 {
            return Err(ShapleyError::PlayerOutOfRange {
                player: 63 - mask.leading_zeros() as usize,
                n,
            });
        }
        let mut c = Self::empty(n);
        if let Some(w) = c.words.first_mut() {
            *w = mask;
        }
        Ok(c)
    }

    /// A coalition from a list of player indices; an index `>= n` is an error.
    pub fn from_players(n: usize, players: &[usize]) -> Result<Self, ShapleyError> {
        let mut c = Self::empty(n);
        for &p in players {
            if p >= n {
                return Err(ShapleyError::PlayerOutOfRange { player: p, n });
            }
            c.insert(p);
        }
        Ok(c)
    }

    /// A coalition from a bitstring such as `"0110"`, where character `i` is player `i`.
    pub fn from_bitstring(s: &str) -> Result<Self, ShapleyError> {
        let s = s.trim();
        let mut c = Self::empty(s.len());
        for (i, ch) in s.chars().enumerate() {
            match ch {
                '1' => c.insert(i),
                '0' => {}
                other => {
                    return Err(ShapleyError::Parse {
                        line: 0,
                        message: format!("bitstring {s:?} has character {other:?}; use 0 and 1"),
                    })
                }
            }
        }
        Ok(c)
    }

    /// Number of players the coalition is drawn from.
    pub fn n_players(&self) -> usize {
        self.n
    }

    /// The underlying 64-bit words (player `i` is bit `i % 64` of word `i / 64`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The first word as a mask; exact for coalitions of at most 64 players.
    pub fn first_word(&self) -> u64 {
        self.words.first().copied().unwrap_or(0)
    }

    /// Whether player `i` is a member (false when `i >= n`).
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        i < self.n && self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// Adds player `i`.
    ///
    /// # Panics
    /// If `i >= n`: callers inside the crate only pass valid indices.
    #[inline]
    pub fn insert(&mut self, i: usize) {
        assert!(i < self.n, "player index within 0..n");
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Removes player `i` (no effect if absent or out of range).
    #[inline]
    pub fn remove(&mut self, i: usize) {
        if i < self.n {
            self.words[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Removes every player.
    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the coalition has no member.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Whether every member of `self` is in `other`.
    pub fn is_subset(&self, other: &Coalition) -> bool {
        self.words
            .iter()
            .zip(other.words.iter().chain(std::iter::repeat(&0)))
            .all(|(a, b)| a & !b == 0)
    }

    /// The members in increasing order.
    pub fn players(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    None
                } else {
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    Some(64 * k + b)
                }
            })
        })
    }

    /// The coalition as a bitstring of length `n` (character `i` is player `i`).
    pub fn to_bitstring(&self) -> String {
        (0..self.n)
            .map(|i| if self.contains(i) { '1' } else { '0' })
            .collect()
    }
}

impl fmt::Debug for Coalition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Displays as `{0, 3, 5}`: the form used in error messages.
impl fmt::Display for Coalition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (k, p) in self.players().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_len_across_word_boundaries() {
        for n in [0, 1, 63, 64, 65, 128, 1000] {
            let c = Coalition::full(n);
            assert_eq!(c.len(), n);
            assert_eq!(c.players().count(), n);
            assert!(Coalition::empty(n).is_subset(&c));
        }
    }

    #[test]
    fn insert_remove_contains_display() {
        let mut c = Coalition::empty(130);
        c.insert(0);
        c.insert(64);
        c.insert(129);
        assert!(c.contains(64) && !c.contains(63) && !c.contains(500));
        assert_eq!(c.to_string(), "{0, 64, 129}");
        c.remove(64);
        assert_eq!(c.players().collect::<Vec<_>>(), vec![0, 129]);
    }

    #[test]
    fn parse_forms() {
        let a = Coalition::from_bitstring("0101").expect("valid bitstring");
        let b = Coalition::from_players(4, &[1, 3]).expect("valid players");
        let m = Coalition::from_mask(4, 0b1010).expect("valid mask");
        assert_eq!(a, b);
        assert_eq!(a, m);
        assert_eq!(a.to_bitstring(), "0101");
        assert!(Coalition::from_players(4, &[4]).is_err());
        assert!(Coalition::from_mask(4, 0b10000).is_err());
        assert!(Coalition::from_bitstring("01x").is_err());
    }
}

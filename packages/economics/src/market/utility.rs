//! The structured utility of the market model (issue #15, item 1).
//!
//! Data lives in `D` domains. A party's data in domain `d` is `e_d` effective tokens
//! (quality · effort · tokens · its share of domain `d`), cut into [`SEGMENTS`] content
//! segments that carry its content identity: an identity holds a segment mask, copies hold the
//! same mask and a split hands out disjoint masks. A coalition's data is the *union* of its
//! members' content, so a copy adds nothing (redundancy) and two parties in different domains
//! add more than two in the same one (complementarity under concave returns):
//!
//! `U_w(S) = A · Σ_d w_d · (1 − exp(−E_d(S) / κ_d)) − β · E⁻(S)`, `κ_d = κ / D`,
//!
//! with `E_d(S) = Σ_owners e_{o,d} · |∪ masks of o in S| / SEGMENTS`, `E⁻` the poisoned
//! tokens counted the same way and `β = poison_harm · A / κ`. The weights `w` are a test
//! distribution over domains. With `D = 1` (or data spread over the domains as `w`) and one
//! identity per party this is exactly the calibrated one-dimensional surrogate
//! `A·(1 − exp(−E/κ)) − β·E⁻` of [`crate::sim::Surrogate`].

use crate::sim::Surrogate;

/// Content segments per party: an identity's content is a mask over them.
pub const SEGMENTS: u32 = 8;
/// The mask of all of a party's content.
pub const ALL: u8 = u8::MAX;

/// One owner's data as a coalition sees it (already scaled by the effort of its action).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerData {
    /// Effective tokens per domain.
    pub e: Vec<f64>,
    /// Poisoned tokens (spread over its segments like its data).
    pub poison: f64,
}

/// One player of a cohort's game: an owner (index into the owners) and the content it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Player {
    /// Index of the owner in the cohort's owner list.
    pub owner: usize,
    /// The content segments it holds.
    pub mask: u8,
}

/// The utility with structure: a surrogate's constants plus one weight per domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Utility {
    /// `A`, `κ` and the poisoning harm.
    pub surrogate: Surrogate,
    /// Domain weights (sum to 1).
    pub weights: Vec<f64>,
}

impl Utility {
    /// Number of domains.
    pub fn domains(&self) -> usize {
        self.weights.len()
    }

    /// `U` of a coalition whose per-domain effective tokens are `e` and poisoned tokens `poison`.
    pub fn value(&self, e: &[f64], poison: f64) -> f64 {
        let s = &self.surrogate;
        let kd = s.kappa_tokens / self.domains() as f64;
        let gain: f64 = self
            .weights
            .iter()
            .zip(e)
            .map(|(w, x)| w * (1.0 - (-x / kd).exp()))
            .sum();
        s.a * gain - s.beta() * poison
    }

    /// Fills `out` with `U(S)` for every mask `S` of `players` (bit `i` is player `i`), each
    /// mask built from the mask without its lowest player: per mask `O(owners + D)`.
    /// `cover` and `e` are scratch space reused between calls.
    pub fn table(
        &self,
        owners: &[OwnerData],
        players: &[Player],
        cover: &mut Vec<u8>,
        e: &mut Vec<f64>,
        out: &mut Vec<f64>,
    ) {
        let k = players.len();
        let n = 1usize << k;
        let (d, no) = (self.domains(), owners.len());
        // Row m of `cover`: each owner's covered segments in coalition m; row m of `e`: its
        // per-domain effective tokens then its poisoned tokens.
        cover.clear();
        cover.resize(n * no, 0);
        e.clear();
        e.resize(n * (d + 1), 0.0);
        out.clear();
        out.resize(n, 0.0);
        let seg = f64::from(SEGMENTS);
        let s = &self.surrogate;
        let kd = s.kappa_tokens / d as f64;
        let beta = s.beta();
        for m in 1..n {
            let low = m.trailing_zeros() as usize;
            let prev = m & (m - 1);
            cover.copy_within(prev * no..(prev + 1) * no, m * no);
            e.copy_within(prev * (d + 1)..(prev + 1) * (d + 1), m * (d + 1));
            let p = players[low];
            let before = cover[m * no + p.owner];
            let after = before | p.mask;
            cover[m * no + p.owner] = after;
            let added = f64::from(after.count_ones() - before.count_ones()) / seg;
            let row = &mut e[m * (d + 1)..(m + 1) * (d + 1)];
            if added > 0.0 {
                let o = &owners[p.owner];
                for (x, y) in row[..d].iter_mut().zip(&o.e) {
                    *x += added * y;
                }
                row[d] += added * o.poison;
            }
            let gain: f64 = self
                .weights
                .iter()
                .zip(&row[..d])
                .map(|(w, x)| w * (1.0 - (-x / kd).exp()))
                .sum();
            out[m] = s.a * gain - beta * row[d];
        }
    }
}

/// Masks of `k` identities splitting all [`SEGMENTS`] segments as evenly as possible.
pub fn split_masks(k: usize) -> Vec<u8> {
    let k = k.clamp(1, SEGMENTS as usize);
    let mut out = vec![0u8; k];
    for s in 0..SEGMENTS as usize {
        out[s % k] |= 1 << s;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_d() -> Utility {
        Utility {
            surrogate: Surrogate::default(),
            weights: vec![1.0],
        }
    }

    #[test]
    fn one_domain_one_identity_is_the_calibrated_surrogate() {
        let u = one_d();
        let owners = vec![
            OwnerData {
                e: vec![30_000.0],
                poison: 0.0,
            },
            OwnerData {
                e: vec![0.0],
                poison: 20_000.0,
            },
            OwnerData {
                e: vec![120_000.0],
                poison: 0.0,
            },
        ];
        let players: Vec<Player> = (0..3)
            .map(|o| Player {
                owner: o,
                mask: ALL,
            })
            .collect();
        let (mut c, mut e, mut t) = (Vec::new(), Vec::new(), Vec::new());
        u.table(&owners, &players, &mut c, &mut e, &mut t);
        let (mut s1, mut t1) = (Vec::new(), Vec::new());
        u.surrogate.table(
            &[30_000.0, 0.0, 120_000.0],
            &[0.0, 20_000.0, 0.0],
            &mut s1,
            &mut t1,
        );
        for (a, b) in t.iter().zip(&t1) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // Data spread over domains as the test weights is the same special case.
        let u4 = Utility {
            surrogate: Surrogate::default(),
            weights: vec![0.25; 4],
        };
        let spread = vec![OwnerData {
            e: vec![10_000.0; 4],
            poison: 0.0,
        }];
        u4.table(
            &spread,
            &[Player {
                owner: 0,
                mask: ALL,
            }],
            &mut c,
            &mut e,
            &mut t,
        );
        assert!((t[1] - u.surrogate.utility(40_000.0, 0.0)).abs() < 1e-12);
    }

    #[test]
    fn copies_are_redundant_and_splits_add_up() {
        let u = Utility {
            surrogate: Surrogate::default(),
            weights: vec![0.5, 0.5],
        };
        let owners = vec![OwnerData {
            e: vec![50_000.0, 10_000.0],
            poison: 0.0,
        }];
        let (mut c, mut e, mut t) = (Vec::new(), Vec::new(), Vec::new());
        let copies = [Player {
            owner: 0,
            mask: ALL,
        }; 3];
        u.table(&owners, &copies, &mut c, &mut e, &mut t);
        assert!(
            t[1..].iter().all(|&v| (v - t[1]).abs() < 1e-15),
            "copies count once"
        );
        let halves: Vec<Player> = split_masks(2)
            .into_iter()
            .map(|mask| Player { owner: 0, mask })
            .collect();
        u.table(&owners, &halves, &mut c, &mut e, &mut t);
        assert!((t[3] - u.value(&[50_000.0, 10_000.0], 0.0)).abs() < 1e-12);
        assert!(
            t[1] + t[2] > t[3],
            "concave: two halves alone are worth more than together"
        );
    }

    #[test]
    fn domains_complement_each_other() {
        let u = Utility {
            surrogate: Surrogate::default(),
            weights: vec![0.5, 0.5],
        };
        let a = [300_000.0, 0.0];
        let b_same = [300_000.0, 0.0];
        let b_other = [0.0, 300_000.0];
        let pair = |x: &[f64], y: &[f64]| {
            u.value(&[x[0] + y[0], x[1] + y[1]], 0.0) - u.value(x, 0.0) - u.value(y, 0.0)
        };
        assert!(pair(&a, &b_other) > pair(&a, &b_same));
        assert!(pair(&a, &b_same) < 0.0, "redundant data: less than the sum");
    }

    #[test]
    fn split_masks_partition_the_content() {
        for k in 1..=8 {
            let m = split_masks(k);
            assert_eq!(m.iter().fold(0u8, |a, b| a | b), ALL);
            assert_eq!(m.iter().map(|x| x.count_ones()).sum::<u32>(), SEGMENTS);
        }
    }
}

//! Near-duplicate players valued as one: groups of players, group Shapley shared evenly among
//! a group's members, and the individual game whose *plain* Shapley values are exactly that
//! split (so a table of it can be checked by anyone who computes ordinary Shapley values).
//!
//! Why group at all: Shapley values pay a player for the value it adds, and a copy of an update
//! (or an update trained twice on the same data) looks like a second contributor unless copies
//! are recognised. Players whose updates are near-duplicates ([`near_duplicates`]) form one
//! group; the group game `v(T)` (players are groups) counts each group once, and each member
//! receives `φ_g(v) / |g|`. So k identities of one party earn, together, what one identity
//! would — minus the k stakes they must bond and risk.
//!
//! Why even, not by stake: a stake-weighted split would let a Sybil buy a larger share of a
//! group's value by bonding more under the identity it controls; the even split gives nothing
//! for extra identities or extra bonds.
//!
//! How a table stays checkable: with `x_g(S) = |S ∩ g| / |g|` the share of group g present in
//! the individual coalition S, the individual game is the multilinear extension of v at x:
//!
//! ```text
//! U(S) = Σ_{T ⊆ groups} v(T) · Π_{g ∈ T} x_g(S) · Π_{g ∉ T} (1 − x_g(S))
//! ```
//!
//! It equals v on coalitions made of whole groups, and its ordinary Shapley values are the
//! group Shapley values split evenly (for v's Harsanyi dividend d_T the term
//! `d_T Π_{g∈T} x_g` is an average of unanimity games on one member per group of T, each of
//! which pays 1/|T| per group, 1/(|T|·|g|) per member). With every group a singleton, U = v.

use crate::coalition::Coalition;
use crate::error::{Result, ShapleyError};
use crate::utility::Utility;

/// Most partially present groups [`fractional_value`] expands (2^this group coalitions).
pub const MAX_PARTIAL_GROUPS: usize = 16;

/// A partition of players `0..n` into groups `0..m`, numbered in order of their first member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    of: Vec<usize>,
    members: Vec<Vec<usize>>,
}

impl Groups {
    /// Every player alone.
    pub fn singletons(n: usize) -> Self {
        Self {
            of: (0..n).collect(),
            members: (0..n).map(|i| vec![i]).collect(),
        }
    }

    /// Groups from a label per player (players with equal labels share a group).
    pub fn from_labels<L: PartialEq>(labels: &[L]) -> Self {
        let mut of = Vec::with_capacity(labels.len());
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut firsts: Vec<usize> = Vec::new();
        for (i, l) in labels.iter().enumerate() {
            match firsts.iter().position(|&f| labels[f] == *l) {
                Some(g) => {
                    of.push(g);
                    members[g].push(i);
                }
                None => {
                    of.push(members.len());
                    firsts.push(i);
                    members.push(vec![i]);
                }
            }
        }
        Self { of, members }
    }

    /// Number of players.
    pub fn n_players(&self) -> usize {
        self.of.len()
    }

    /// Number of groups.
    pub fn n_groups(&self) -> usize {
        self.members.len()
    }

    /// The group of player `i`.
    pub fn group_of(&self, i: usize) -> usize {
        self.of[i]
    }

    /// The members of every group, in group order.
    pub fn members(&self) -> &[Vec<usize>] {
        &self.members
    }

    /// Whether every player is alone (grouping changes nothing).
    pub fn is_trivial(&self) -> bool {
        self.members.len() == self.of.len()
    }

    /// Which players belong to the groups marked in `groups_in` (length `n_groups`).
    pub fn players_of(&self, groups_in: &[bool]) -> Vec<bool> {
        self.of.iter().map(|&g| groups_in[g]).collect()
    }
}

/// Groups of near-duplicates by complete linkage: two clusters merge (most similar first) only
/// while *every* pair across them is at least `threshold` similar. Complete linkage, unlike
/// single linkage, cannot be chained: an attacker's update similar to two honest parties does
/// not pull them into one group. `similarity` is a symmetric n × n matrix (the diagonal is
/// ignored; NaN counts as dissimilar).
pub fn near_duplicates(similarity: &[Vec<f64>], threshold: f64) -> Result<Groups> {
    let n = similarity.len();
    if let Some(r) = similarity.iter().position(|row| row.len() != n) {
        return Err(ShapleyError::InvalidParameter(format!(
            "the similarity matrix must be square: row {r} has {} entries, expected {n}",
            similarity[r].len()
        )));
    }
    if !threshold.is_finite() {
        return Err(ShapleyError::InvalidParameter(format!(
            "the near-duplicate threshold must be a finite number, got {threshold}"
        )));
    }
    let sim = |i: usize, j: usize| {
        let s = similarity[i][j].min(similarity[j][i]);
        if s.is_nan() {
            f64::NEG_INFINITY
        } else {
            s
        }
    };
    let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    loop {
        let mut best: Option<(f64, usize, usize)> = None;
        for a in 0..clusters.len() {
            for b in a + 1..clusters.len() {
                let link = clusters[a]
                    .iter()
                    .flat_map(|&i| clusters[b].iter().map(move |&j| (i, j)))
                    .map(|(i, j)| sim(i, j))
                    .fold(f64::INFINITY, f64::min);
                if link >= threshold && best.is_none_or(|(l, _, _)| link > l) {
                    best = Some((link, a, b));
                }
            }
        }
        let Some((_, a, b)) = best else { break };
        let merged = clusters.remove(b);
        clusters[a].extend(merged);
    }
    let mut labels = vec![0usize; n];
    for (c, members) in clusters.iter().enumerate() {
        for &i in members {
            labels[i] = c;
        }
    }
    Ok(Groups::from_labels(&labels))
}

/// The individual game's value of the coalition `present` (one flag per player): the group
/// game `v` (called with one flag per group) averaged over the partially present groups, each
/// present with probability `x_g` (see the module documentation).
pub fn fractional_value(
    groups: &Groups,
    present: &[bool],
    mut v: impl FnMut(&[bool]) -> Result<f64>,
) -> Result<f64> {
    if present.len() != groups.n_players() {
        return Err(ShapleyError::InvalidParameter(format!(
            "a coalition of {} players for a game of {}",
            present.len(),
            groups.n_players()
        )));
    }
    let m = groups.n_groups();
    let mut full = vec![false; m];
    let mut partial: Vec<(usize, f64)> = Vec::new();
    for (g, members) in groups.members().iter().enumerate() {
        let k = members.iter().filter(|&&i| present[i]).count();
        if k == members.len() {
            full[g] = true;
        } else if k > 0 {
            partial.push((g, k as f64 / members.len() as f64));
        }
    }
    if partial.len() > MAX_PARTIAL_GROUPS {
        return Err(ShapleyError::TooManyPlayers {
            method: "fractional group value (partially present groups)",
            n: partial.len(),
            max: MAX_PARTIAL_GROUPS,
        });
    }
    let mut total = 0.0;
    for r in 0u64..(1 << partial.len()) {
        let mut inside = full.clone();
        let mut weight = 1.0;
        for (bit, &(g, x)) in partial.iter().enumerate() {
            if r >> bit & 1 == 1 {
                inside[g] = true;
                weight *= x;
            } else {
                weight *= 1.0 - x;
            }
        }
        total += weight * v(&inside)?;
    }
    Ok(total)
}

/// The individual game's full table (index = player mask, length 2^n) from the group game's
/// table (index = group mask, length 2^m).
pub fn expand_table(groups: &Groups, group_table: &[f64]) -> Result<Vec<f64>> {
    let (n, m) = (groups.n_players(), groups.n_groups());
    if n > 24 {
        return Err(ShapleyError::TooManyPlayers {
            method: "a full group-expanded table",
            n,
            max: 24,
        });
    }
    if group_table.len() != 1 << m {
        return Err(ShapleyError::InvalidParameter(format!(
            "a group table of {m} groups has {} entries, expected {}",
            group_table.len(),
            1u64 << m
        )));
    }
    let mask_of = |inside: &[bool]| -> usize {
        inside
            .iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(g, _)| 1usize << g)
            .sum()
    };
    (0u64..(1 << n))
        .map(|s| {
            let present: Vec<bool> = (0..n).map(|i| s >> i & 1 == 1).collect();
            fractional_value(groups, &present, |inside| Ok(group_table[mask_of(inside)]))
        })
        .collect()
}

/// Each player's share of its group's value: `group_values[g] / |g|`.
pub fn split_evenly(groups: &Groups, group_values: &[f64]) -> Vec<f64> {
    (0..groups.n_players())
        .map(|i| {
            let g = groups.group_of(i);
            group_values[g] / groups.members()[g].len() as f64
        })
        .collect()
}

/// The individual game of a group game: a [`Utility`] over players whose plain Shapley values
/// are the group game's Shapley values split evenly.
pub struct GroupedUtility<U> {
    groups: Groups,
    group_game: U,
}

impl<U: Utility> GroupedUtility<U> {
    /// `group_game` has one player per group of `groups`.
    pub fn new(groups: Groups, group_game: U) -> Result<Self> {
        if group_game.n_players() != groups.n_groups() {
            return Err(ShapleyError::InvalidParameter(format!(
                "the group game has {} players but there are {} groups",
                group_game.n_players(),
                groups.n_groups()
            )));
        }
        Ok(Self { groups, group_game })
    }
}

impl<U: Utility> Utility for GroupedUtility<U> {
    fn n_players(&self) -> usize {
        self.groups.n_players()
    }

    fn value(&self, coalition: &Coalition) -> Result<f64> {
        let present: Vec<bool> = (0..self.n_players())
            .map(|i| coalition.contains(i))
            .collect();
        let m = self.groups.n_groups();
        fractional_value(&self.groups, &present, |inside| {
            let players: Vec<usize> = (0..m).filter(|&g| inside[g]).collect();
            self.group_game
                .value(&Coalition::from_players(m, &players)?)
        })
    }
}

/// A near-duplicate threshold calibrated from measured similarities of pairs known to hold
/// different data (`distinct`) and pairs known to hold the same data (`same`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdCalibration {
    /// Midway between the two distributions' facing extremes.
    pub threshold: f64,
    /// The largest similarity of a distinct-data pair.
    pub max_distinct: f64,
    /// The smallest similarity of a same-data pair.
    pub min_same: f64,
}

impl ThresholdCalibration {
    /// The gap between the distributions (positive when they separate).
    pub fn margin(&self) -> f64 {
        self.min_same - self.max_distinct
    }
}

/// Calibrates a threshold between two measured similarity distributions; an error when either
/// is empty or they overlap (then no threshold separates them and grouping by it would either
/// miss copies or merge honest parties).
pub fn calibrate_threshold(distinct: &[f64], same: &[f64]) -> Result<ThresholdCalibration> {
    let finite = |xs: &[f64]| {
        xs.iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect::<Vec<_>>()
    };
    let (d, s) = (finite(distinct), finite(same));
    if d.is_empty() || s.is_empty() {
        return Err(ShapleyError::InvalidParameter(
            "calibration needs at least one distinct-data pair and one same-data pair".into(),
        ));
    }
    let max_distinct = d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min_same = s.iter().copied().fold(f64::INFINITY, f64::min);
    if min_same <= max_distinct {
        return Err(ShapleyError::InvalidParameter(format!(
            "the similarities overlap: a distinct-data pair reaches {max_distinct:.4} and a \
             same-data pair falls to {min_same:.4}"
        )));
    }
    Ok(ThresholdCalibration {
        threshold: (max_distinct + min_same) / 2.0,
        max_distinct,
        min_same,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::exact_shapley;
    use crate::utility::FnUtility;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
        }
    }

    /// A game with redundancy and complementarity over `m` players: a concave function of the
    /// summed weights plus a pairwise bonus.
    fn structured(m: usize) -> impl Fn(&Coalition) -> f64 + Sync {
        move |c: &Coalition| {
            let w: f64 = c.players().map(|i| 1.0 + i as f64 * 0.7).sum();
            let bonus = if c.contains(0) && m > 1 && c.contains(m - 1) {
                0.3
            } else {
                0.0
            };
            w.sqrt() * 2.0 + bonus
        }
    }

    #[test]
    fn plain_shapley_of_the_grouped_game_is_the_even_split_of_group_shapley() {
        for labels in [vec![0, 1, 0, 2, 1, 0], vec![0, 0, 1], vec![3, 3, 3, 3]] {
            let groups = Groups::from_labels(&labels);
            let m = groups.n_groups();
            let group_game = FnUtility::new(m, structured(m));
            let group_phi = exact_shapley(&group_game).expect("exact").values;
            let grouped = GroupedUtility::new(groups.clone(), &group_game).expect("sizes");
            let phi = exact_shapley(&grouped).expect("exact").values;
            close(&phi, &split_evenly(&groups, &group_phi));
            // Efficiency: everything the grand coalition makes, nothing more.
            let all = grouped
                .value(&Coalition::full(groups.n_players()))
                .expect("value");
            assert!((phi.iter().sum::<f64>() - all).abs() < 1e-9);
        }
    }

    #[test]
    fn the_expanded_table_agrees_with_the_grouped_utility_and_with_whole_groups() {
        let groups = Groups::from_labels(&[0, 1, 1, 2, 2, 2]);
        let m = groups.n_groups();
        let f = structured(m);
        let table: Vec<f64> = (0u64..1 << m)
            .map(|t| f(&Coalition::from_mask(m, t).expect("mask")))
            .collect();
        let expanded = expand_table(&groups, &table).expect("expand");
        let grouped =
            GroupedUtility::new(groups.clone(), FnUtility::new(m, structured(m))).expect("sizes");
        for (s, u) in expanded.iter().enumerate() {
            let c = Coalition::from_mask(6, s as u64).expect("mask");
            assert!((grouped.value(&c).expect("value") - u).abs() < 1e-12);
        }
        // A coalition of whole groups {0} ∪ {3,4,5} is worth v({0, 2}).
        assert!((expanded[0b111001] - table[0b101]).abs() < 1e-12);
        assert_eq!(expanded[0], table[0]);
    }

    #[test]
    fn singletons_change_nothing() {
        let game = FnUtility::new(4, structured(4));
        let plain = exact_shapley(&game).expect("exact").values;
        let grouped = GroupedUtility::new(Groups::singletons(4), &game).expect("sizes");
        close(&exact_shapley(&grouped).expect("exact").values, &plain);
        assert!(Groups::singletons(4).is_trivial());
    }

    /// Data sources with sizes; a coalition's value is concave in the *distinct* data it holds
    /// (a copy adds nothing), so copies are pure redundancy.
    fn data_game(sizes: Vec<f64>, source: Vec<usize>) -> impl Fn(&Coalition) -> f64 + Sync {
        move |c: &Coalition| {
            let mut held = vec![false; sizes.len()];
            for i in c.players() {
                held[source[i]] = true;
            }
            let d: f64 = held
                .iter()
                .zip(&sizes)
                .filter(|(&h, _)| h)
                .map(|(_, s)| s)
                .sum();
            d.sqrt()
        }
    }

    #[test]
    fn k_copies_as_a_group_earn_together_what_one_copy_alone_would() {
        let sizes = vec![4.0, 2.0, 1.0];
        // One identity per source: the reference.
        let one = FnUtility::new(3, data_game(sizes.clone(), vec![0, 1, 2]));
        let phi_one = exact_shapley(&one).expect("exact").values;
        for k in 2..=4 {
            // Source 2's owner enters under k identities (players 2..2+k).
            let mut source = vec![0, 1];
            source.extend(std::iter::repeat_n(2, k));
            let n = source.len();
            let copies = FnUtility::new(n, data_game(sizes.clone(), source.clone()));
            // Without grouping the copier gains (substitutes share, but it holds more seats).
            let plain = exact_shapley(&copies).expect("exact").values;
            let plain_total: f64 = plain[2..].iter().sum();
            assert!(
                plain_total > phi_one[2] + 1e-6,
                "k={k}: {plain_total} vs {}",
                phi_one[2]
            );
            // Grouped: exactly one identity's value in total, and the others are unaffected.
            let groups = Groups::from_labels(&source);
            let group_game = FnUtility::new(3, data_game(sizes.clone(), vec![0, 1, 2]));
            let grouped = GroupedUtility::new(groups, &group_game).expect("sizes");
            let phi = exact_shapley(&grouped).expect("exact").values;
            let total: f64 = phi[2..].iter().sum();
            assert!(
                (total - phi_one[2]).abs() < 1e-9,
                "k={k}: {total} vs {}",
                phi_one[2]
            );
            close(&phi[..2], &phi_one[..2]);
        }
    }

    #[test]
    fn near_duplicates_group_copies_and_never_chain_through_a_bridge() {
        // 0 and 1 are copies; 2 resembles both 3 and 4, which do not resemble each other.
        let s = vec![
            vec![1.0, 0.97, 0.1, 0.2, 0.1],
            vec![0.97, 1.0, 0.1, 0.2, 0.1],
            vec![0.1, 0.1, 1.0, 0.95, 0.95],
            vec![0.2, 0.2, 0.95, 1.0, 0.3],
            vec![0.1, 0.1, 0.95, 0.3, 1.0],
        ];
        let g = near_duplicates(&s, 0.9).expect("groups");
        assert_eq!(g.group_of(0), g.group_of(1));
        // The bridge joins one of them at most; 3 and 4 stay apart.
        assert_ne!(g.group_of(3), g.group_of(4));
        assert_eq!(g.n_groups(), 3);
        let none = near_duplicates(&s, 0.99).expect("groups");
        assert!(none.is_trivial());
        assert!(near_duplicates(&[vec![1.0, 0.5]], 0.9).is_err());
    }

    #[test]
    fn calibration_separates_or_says_it_cannot() {
        let c = calibrate_threshold(&[0.1, 0.3, 0.25], &[0.9, 0.95]).expect("separated");
        assert!((c.threshold - 0.6).abs() < 1e-12);
        assert!((c.margin() - 0.6).abs() < 1e-12);
        assert!(calibrate_threshold(&[0.1, 0.92], &[0.9]).is_err());
        assert!(calibrate_threshold(&[], &[0.9]).is_err());
    }

    #[test]
    fn too_many_partial_groups_is_an_error_not_a_hang() {
        let labels: Vec<usize> = (0..2 * (MAX_PARTIAL_GROUPS + 1)).map(|i| i / 2).collect();
        let groups = Groups::from_labels(&labels);
        let present: Vec<bool> = (0..labels.len()).map(|i| i % 2 == 0).collect();
        assert!(fractional_value(&groups, &present, |_| Ok(1.0)).is_err());
    }
}

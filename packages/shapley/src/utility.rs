//! The utility interface every estimator consumes, plus a memoising wrapper.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::coalition::Coalition;
use crate::error::Result;

/// The value of coalitions of a cooperative game with `n_players()` players.
///
/// Implementors supply [`Utility::value`]; [`Utility::values`] evaluates a batch and can be
/// overridden when many coalitions are cheaper together (an ML trainer evaluating coalition
/// models in one pass). The value of the empty coalition is whatever `value` returns for it;
/// games in this crate and tables without an entry for it use 0.
pub trait Utility: Sync {
    /// Number of players.
    fn n_players(&self) -> usize;

    /// The value of one coalition.
    fn value(&self, coalition: &Coalition) -> Result<f64>;

    /// The values of many coalitions, in order.
    fn values(&self, coalitions: &[Coalition]) -> Result<Vec<f64>> {
        coalitions.iter().map(|c| self.value(c)).collect()
    }
}

impl<U: Utility + ?Sized> Utility for &U {
    fn n_players(&self) -> usize {
        (**self).n_players()
    }
    fn value(&self, coalition: &Coalition) -> Result<f64> {
        (**self).value(coalition)
    }
    fn values(&self, coalitions: &[Coalition]) -> Result<Vec<f64>> {
        (**self).values(coalitions)
    }
}

impl<U: Utility + ?Sized + Send> Utility for Box<U> {
    fn n_players(&self) -> usize {
        (**self).n_players()
    }
    fn value(&self, coalition: &Coalition) -> Result<f64> {
        (**self).value(coalition)
    }
    fn values(&self, coalitions: &[Coalition]) -> Result<Vec<f64>> {
        (**self).values(coalitions)
    }
}

/// A utility from a closure, for tests and quick experiments.
pub struct FnUtility<F> {
    n: usize,
    f: F,
}

impl<F: Fn(&Coalition) -> f64 + Sync> FnUtility<F> {
    /// Wraps `f` as the utility of an `n`-player game.
    pub fn new(n: usize, f: F) -> Self {
        Self { n, f }
    }
}

impl<F: Fn(&Coalition) -> f64 + Sync> Utility for FnUtility<F> {
    fn n_players(&self) -> usize {
        self.n
    }
    fn value(&self, coalition: &Coalition) -> Result<f64> {
        Ok((self.f)(coalition))
    }
}

/// Memoises another utility so each distinct coalition is evaluated once.
///
/// Thread-safe; batch calls forward only the coalitions not yet cached, in one inner batch.
pub struct CachedUtility<U> {
    inner: U,
    cache: Mutex<HashMap<Coalition, f64>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<U: Utility> CachedUtility<U> {
    /// Wraps `inner` with an empty cache.
    pub fn new(inner: U) -> Self {
        Self {
            inner,
            cache: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Calls answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Calls forwarded to the inner utility (distinct coalitions evaluated).
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// The wrapped utility.
    pub fn inner(&self) -> &U {
        &self.inner
    }

    fn lookup(&self, c: &Coalition) -> Option<f64> {
        self.cache
            .lock()
            .expect("cache mutex is never poisoned: no code panics while holding it")
            .get(c)
            .copied()
    }

    fn store(&self, c: Coalition, v: f64) {
        self.cache
            .lock()
            .expect("cache mutex is never poisoned: no code panics while holding it")
            .insert(c, v);
    }
}

impl<U: Utility> Utility for CachedUtility<U> {
    fn n_players(&self) -> usize {
        self.inner.n_players()
    }

    fn value(&self, coalition: &Coalition) -> Result<f64> {
        if let Some(v) = self.lookup(coalition) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        let v = self.inner.value(coalition)?;
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.store(coalition.clone(), v);
        Ok(v)
    }

    fn values(&self, coalitions: &[Coalition]) -> Result<Vec<f64>> {
        let mut out: Vec<Option<f64>> = coalitions.iter().map(|c| self.lookup(c)).collect();
        let missing: Vec<Coalition> = coalitions
            .iter()
            .zip(&out)
            .filter(|(_, v)| v.is_none())
            .map(|(c, _)| c.clone())
            .collect();
        let hits = (coalitions.len() - missing.len()) as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        if !missing.is_empty() {
            let fresh = self.inner.values(&missing)?;
            self.misses
                .fetch_add(missing.len() as u64, Ordering::Relaxed);
            let mut fresh_iter = fresh.iter();
            for slot in out.iter_mut().filter(|v| v.is_none()) {
                *slot = fresh_iter.next().copied();
            }
            for (c, v) in missing.into_iter().zip(fresh) {
                self.store(c, v);
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.expect("every slot filled from the cache or the inner batch"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn cache_evaluates_each_coalition_once() {
        let calls = AtomicUsize::new(0);
        let u = FnUtility::new(3, |c: &Coalition| {
            calls.fetch_add(1, Ordering::Relaxed);
            c.len() as f64
        });
        let cached = CachedUtility::new(u);
        let a = Coalition::from_players(3, &[0, 1]).expect("valid");
        let b = Coalition::from_players(3, &[2]).expect("valid");
        assert_eq!(cached.value(&a).expect("ok"), 2.0);
        let vs = cached.values(&[a.clone(), b.clone(), a]).expect("ok");
        assert_eq!(vs, vec![2.0, 1.0, 2.0]);
        assert_eq!(cached.misses(), 2); // a once, then b from the batch
        assert_eq!(cached.value(&b).expect("ok"), 1.0);
        assert!(cached.hits() >= 2);
        assert_eq!(calls.load(Ordering::Relaxed) as u64, cached.misses());
    }
}

//! An evaluator's work in a round: value the round's verified updates on its own held-out text,
//! write the coalition utility table its report commits to, and turn the table into the report
//! it commits to and later reveals on chain.
//!
//! The reported φ and ΔU follow *exactly* from the published table: the table's utilities are
//! rounded to nano-units first ([`report::pack_utilities`]) and φ is computed from the rounded
//! table with the contract's own arithmetic ([`report::shapley`]), so a dispute against an
//! honest report always fails. Up to [`EXACT_MAX`] updates the table is exact (every coalition);
//! above, it holds sampled permutations drawn by [`report::permutation`] from a seed, the same
//! permutations the contract redraws when it checks the table.

use std::collections::HashMap;
use std::str::FromStr;

use cosmwasm_std::{Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::report::{self, Estimator, UtilityTable, MAX_SAMPLED_UTILITIES};
use fairshare_protocol::round_manager::{ParticipantScore, Report};
use fairshare_trainer::bundle::{safetensors_bytes, update_hash, Bundle};
use fairshare_trainer::eval::{CoalitionEvaluator, Weighting};
use fairshare_trainer::model::LlamaModel;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::DemoError;
use fairshare_shapley::groups::{self, Groups};

/// Smallest standard error an evaluator reports (nats per token): loss differences below this
/// are float noise of f32 evaluation (rank stacking reorders sums), not evidence of harm.
pub const RESOLUTION_NATS: f64 = 1e-4;

/// Exact enumeration up to this many updates; sampled permutations above.
pub const EXACT_MAX: usize = 8;

/// Sampled valuation: stop once every standard error is at most this (nats per token; the
/// reported error is floored there anyway) …
pub const TARGET_STD_ERROR_NATS: f64 = RESOLUTION_NATS;
/// … but draw at least this many permutations (the standard error needs a spread) …
pub const MIN_PERMUTATIONS: u32 = 8;
/// … and spend at most this many coalition evaluations per update.
pub const EVALUATIONS_PER_UPDATE: usize = 40;

/// Windows per validation batch: each batch gives one estimate of every φ, and their spread
/// gives the standard error the chain uses to tell harm from noise.
pub const BATCH_WINDOWS: usize = 8;

/// One evaluator's valuation of a round.
#[derive(Debug, Clone)]
pub struct Valuation {
    pub method: String,
    /// What the table's utilities are: every coalition, or permutations of a seed.
    pub estimator: Estimator,
    /// The table's utilities in its order (U by coalition mask, or by permutation prefix).
    pub utilities: Vec<f64>,
    /// φᵢ per update, in the order given, as they follow from the rounded table.
    pub values: Vec<f64>,
    pub std_errors: Vec<f64>,
    /// Degrees of freedom of the standard errors (batches or permutations, less one).
    pub dof: u32,
    /// U(N): the validation-loss drop of the aggregate of every update.
    pub delta_u: f64,
    /// U({i}): each update alone.
    pub alone: Vec<f64>,
    /// Distinct coalitions evaluated.
    pub evaluations: usize,
    /// sha256 of the aggregate of every update.
    pub aggregate_hash: [u8; 32],
    /// `(members, utility)` of every evaluated coalition (exact valuations only).
    pub subsets: Vec<(Vec<bool>, f64)>,
}

/// Values `updates` on `validation` tokens against `model` (base plus the global adapter).
///
/// Up to [`EXACT_MAX`] updates, every coalition is evaluated once per validation batch: the
/// table is the token-weighted U(S) on the whole text, and the standard errors come from the
/// spread of the per-batch exact values (validation sampling noise), with batches − 1 degrees
/// of freedom. Above, plain permutation sampling with the permutations [`report::permutation`]
/// draws from `seed` (the round's, [`report::round_seed`]: the contract redraws them), until
/// the spread of the per-permutation marginal contributions puts every standard error at
/// [`TARGET_STD_ERROR_NATS`] or the budget of [`EVALUATIONS_PER_UPDATE`] evaluations per update
/// (and [`MAX_SAMPLED_UTILITIES`] utilities) is spent; the reported error adds the validation
/// batches' spread in quadrature, with the smaller of count − 1 and batches − 1 degrees of
/// freedom.
#[allow(clippy::too_many_arguments)]
pub fn value_round(
    name: &str,
    model: &LlamaModel,
    validation: &[u32],
    seq_len: usize,
    updates: Vec<Bundle>,
    groups: &Groups,
    seed: u64,
    progress: bool,
) -> Result<Valuation, DemoError> {
    let n = updates.len();
    if groups.n_players() != n {
        return Err(DemoError::Config(format!(
            "{} updates but near-duplicate groups of {} players",
            n,
            groups.n_players()
        )));
    }
    let mut ev = CoalitionEvaluator::new(
        model.clone(),
        validation,
        seq_len,
        BATCH_WINDOWS,
        updates,
        Weighting::RoundTokens,
    )?;
    let group_of: Vec<usize> = (0..n).map(|i| groups.group_of(i)).collect();
    ev.count_groups_once(&group_of)?;
    let m = groups.n_groups();
    let budget = EVALUATIONS_PER_UPDATE * n;
    let expected = if n <= EXACT_MAX {
        (1u64 << m) - 1
    } else {
        budget as u64
    };
    let bar = if progress {
        ProgressBar::new(expected)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "  {name:<12} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} coalitions"
        ))
        .expect("the progress template is valid"),
    );
    let members = |m: u64| -> Vec<bool> { (0..n).map(|i| m >> i & 1 == 1).collect() };
    let global = ev.global_batch_losses().to_vec();
    let total: usize = global.iter().map(|b| b.1).sum();
    // Each batch's share of the validation tokens: the token-weighted mean of the batches'
    // loss drops is the drop of the pooled loss, U(S).
    let weights: Vec<f64> = global
        .iter()
        .map(|b| b.1 as f64 / total.max(1) as f64)
        .collect();
    let batch_dof = (global.len() as u32).saturating_sub(1);
    // v_j(T) for every batch j: the loss drop of the model with the groups in T (each group
    // counted once) on batch j.
    let group_batch_utilities = |groups_in: &[bool]| -> Result<Vec<f64>, DemoError> {
        let losses = ev.coalition_batch_losses(&groups.players_of(groups_in))?;
        Ok(global
            .iter()
            .zip(&losses)
            .map(|((g, _), (l, _))| g - l)
            .collect())
    };
    let group_cache: std::cell::RefCell<HashMap<Vec<bool>, Vec<f64>>> = Default::default();
    // U_j(S) of the individual game (the group game's multilinear extension; v itself when no
    // update has a near-duplicate).
    let per_batch_utilities = |inside: &[bool]| -> Result<Vec<f64>, DemoError> {
        let mut out = Vec::with_capacity(global.len());
        for j in 0..global.len() {
            out.push(groups::fractional_value(groups, inside, |gin| {
                if let Some(u) = group_cache.borrow().get(gin) {
                    return Ok(u[j]);
                }
                let u = group_batch_utilities(gin)
                    .map_err(|e| fairshare_shapley::ShapleyError::Utility(e.to_string()))?;
                let x = u[j];
                group_cache.borrow_mut().insert(gin.to_vec(), u);
                Ok(x)
            })?);
        }
        Ok(out)
    };
    let pooled = |u: &[f64]| -> f64 { u.iter().zip(&weights).map(|(x, w)| w * x).sum() };
    let (estimator, utilities, std_errors, dof) = if n <= EXACT_MAX {
        // per_group[j][T] = v_j(T), then per_batch[j][mask] = U_j(mask).
        let mut per_group = vec![vec![0.0; 1 << m]; global.len()];
        for t in 1..(1u64 << m) {
            let gin: Vec<bool> = (0..m).map(|g| t >> g & 1 == 1).collect();
            for (j, u) in group_batch_utilities(&gin)?.into_iter().enumerate() {
                per_group[j][t as usize] = u;
            }
            bar.inc(1);
        }
        let per_batch = per_group
            .iter()
            .map(|t| groups::expand_table(groups, t))
            .collect::<Result<Vec<_>, _>>()?;
        let phis: Vec<Vec<f64>> = per_batch
            .iter()
            .map(|t| fairshare_trainer::cli::exact_shapley(t, n))
            .collect();
        let table: Vec<f64> = (0..(1usize << n))
            .map(|m| per_batch.iter().zip(&weights).map(|(t, w)| w * t[m]).sum())
            .collect();
        (
            Estimator::Exact,
            table,
            batch_spread(&phis, &weights, n),
            batch_dof,
        )
    } else {
        let max_count = (MAX_SAMPLED_UTILITIES / n).min(budget / (n - 1).max(1)) as u32;
        let mut cache: HashMap<Vec<bool>, Vec<f64>> = HashMap::new();
        let mut utilities = Vec::new();
        // Each permutation's marginal contributions (pooled), and their sums per batch.
        let mut marginals: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut batch_sums = vec![vec![0.0; n]; global.len()];
        let mut count = 0u32;
        let mut ses = vec![f64::INFINITY; n];
        while count < max_count.max(MIN_PERMUTATIONS) {
            let order = report::permutation(seed, count, n);
            let mut inside = vec![false; n];
            let mut before = vec![0.0; global.len()];
            for &player in &order {
                inside[player] = true;
                let now = match cache.get(&inside) {
                    Some(u) => u.clone(),
                    None => {
                        let u = per_batch_utilities(&inside)?;
                        cache.insert(inside.clone(), u.clone());
                        u
                    }
                };
                utilities.push(pooled(&now));
                marginals[player].push(pooled(&now) - pooled(&before));
                for (j, (x, b)) in now.iter().zip(&before).enumerate() {
                    batch_sums[j][player] += x - b;
                }
                before = now;
            }
            count += 1;
            bar.set_position(group_cache.borrow().len() as u64);
            ses = marginals.iter().map(|m| std_error_of_mean(m)).collect();
            if count >= MIN_PERMUTATIONS && ses.iter().all(|&s| s <= TARGET_STD_ERROR_NATS) {
                break;
            }
        }
        // The estimate's error has two parts: the permutations drawn, and the validation
        // batches (the same spread the exact valuation reports).
        let phis: Vec<Vec<f64>> = batch_sums
            .iter()
            .map(|sums| sums.iter().map(|x| x / count as f64).collect())
            .collect();
        let validation = batch_spread(&phis, &weights, n);
        let ses = ses
            .iter()
            .zip(&validation)
            .map(|(p, v)| (p * p + v * v).sqrt())
            .collect();
        (
            Estimator::Permutations { seed, count },
            utilities,
            ses,
            // The smaller of the two: the more cautious critical value.
            count.saturating_sub(1).min(batch_dof),
        )
    };
    bar.finish_and_clear();
    let (values, delta_u) = from_table(&utilities, estimator, n)?;
    let utility = |m: u64| -> Result<f64, DemoError> {
        Ok(match estimator {
            Estimator::Exact => utilities[m as usize],
            Estimator::Permutations { .. } => pooled(&per_batch_utilities(&members(m))?),
        })
    };
    let alone = (0..n)
        .map(|i| utility(1 << i))
        .collect::<Result<Vec<_>, _>>()?;
    let all = vec![true; n];
    let aggregate = ev
        .coalition_adapter(&all)?
        .ok_or_else(|| DemoError::Config("a round with no updates has no aggregate".into()))?;
    let aggregate_hash = update_hash(&safetensors_bytes(&aggregate.peft_tensors()?)?);
    let subsets = match estimator {
        Estimator::Exact => (1u64..(1 << n))
            .map(|m| (members(m), utilities[m as usize]))
            .collect(),
        Estimator::Permutations { .. } => Vec::new(),
    };
    Ok(Valuation {
        method: match estimator {
            Estimator::Exact => "exact".into(),
            Estimator::Permutations { count, .. } => format!("sampled ({count} permutations)"),
        },
        estimator,
        utilities,
        values,
        std_errors,
        dof,
        delta_u,
        alone,
        // Distinct coalition models evaluated (of groups: a group of copies is one update).
        evaluations: match estimator {
            Estimator::Exact => (1usize << m) - 1,
            Estimator::Permutations { .. } => group_cache.borrow().len(),
        },
        aggregate_hash,
        subsets,
    })
}

/// The standard error of each player's φ from its per-batch estimates `phis[j][i]` (batch j
/// weighing `weights[j]`): the spread of validation sampling.
fn batch_spread(phis: &[Vec<f64>], weights: &[f64], n: usize) -> Vec<f64> {
    let b = phis.len() as f64;
    (0..n)
        .map(|i| {
            let mean: f64 = phis.iter().zip(weights).map(|(p, w)| w * p[i]).sum();
            let var: f64 = phis
                .iter()
                .zip(weights)
                .map(|(p, w)| w * w * (p[i] - mean).powi(2))
                .sum();
            if b > 1.0 {
                (var * b / (b - 1.0)).sqrt()
            } else {
                0.0
            }
        })
        .collect()
}

/// The sample standard deviation of `xs` over √len: the standard error of their mean.
fn std_error_of_mean(xs: &[f64]) -> f64 {
    let k = xs.len() as f64;
    if xs.len() < 2 {
        return f64::INFINITY;
    }
    let mean = xs.iter().sum::<f64>() / k;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0);
    (var / k).sqrt()
}

/// φ and U(N) as they follow from the table once rounded to nano-units (what any checker and
/// the contract compute).
fn from_table(
    utilities: &[f64],
    estimator: Estimator,
    n: usize,
) -> Result<(Vec<f64>, f64), DemoError> {
    let table = UtilityTable {
        participants: (0..n).map(|i| i.to_string()).collect(),
        validation_set_hash: HexBinary::from(vec![0u8; 32]),
        estimator,
        utilities: pack(utilities)?,
    };
    let (phi, delta_u) = decimals(&table)?;
    Ok((phi.iter().map(|v| to_f64(*v)).collect(), to_f64(delta_u)))
}

fn pack(utilities: &[f64]) -> Result<cosmwasm_std::Binary, DemoError> {
    report::pack_utilities(utilities).map_err(|i| {
        DemoError::Config(format!(
            "utility {i} of the table is {}: not a finite number",
            utilities[i]
        ))
    })
}

/// Every φ and ΔU of `table`, as decimals, exactly as the contract computes them.
pub fn decimals(table: &UtilityTable) -> Result<(Vec<SignedDecimal>, SignedDecimal), DemoError> {
    crate::audit::table_values(table)
        .map_err(|e| DemoError::Config(format!("the utility table: {e}")))
}

fn to_f64(d: SignedDecimal) -> f64 {
    d.to_string().parse().unwrap_or(f64::NAN)
}

/// The valuation's coalition utility table: `participants[i]` is the address of update `i`,
/// `validation_set_hash` the sha256 of the text the utilities were measured on.
pub fn to_table(
    v: &Valuation,
    participants: &[String],
    validation_set_hash: [u8; 32],
) -> Result<UtilityTable, DemoError> {
    Ok(UtilityTable {
        participants: participants.to_vec(),
        validation_set_hash: HexBinary::from(validation_set_hash.to_vec()),
        estimator: v.estimator,
        utilities: pack(&v.utilities)?,
    })
}

/// A standard error as it goes on chain: at least [`RESOLUTION_NATS`], 9 decimals.
fn std_error(se: f64) -> Result<Decimal, DemoError> {
    let se = if se.is_finite() {
        se.max(RESOLUTION_NATS)
    } else {
        RESOLUTION_NATS
    };
    Decimal::from_str(&format!("{se:.9}")).map_err(|e| DemoError::Config(format!("{se}: {e}")))
}

/// The report of a valuation, committing to `table`: every φ and ΔU follow from it exactly.
pub fn to_report(v: &Valuation, table: &UtilityTable) -> Result<Report, DemoError> {
    let (phi, delta_u) = decimals(table)?;
    let scores = table
        .participants
        .iter()
        .zip(phi.iter().zip(&v.std_errors))
        .map(|(p, (&value, &se))| {
            Ok(ParticipantScore {
                participant: p.clone(),
                value,
                std_error: std_error(se)?,
            })
        })
        .collect::<Result<Vec<_>, DemoError>>()?;
    Ok(Report {
        aggregate_hash: HexBinary::from(v.aggregate_hash.to_vec()),
        table_hash: HexBinary::from(table.hash().to_vec()),
        delta_u,
        dof: v.dof,
        scores,
    })
}

/// How the demo's lying evaluator lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Lie {
    /// It publishes its honest table but reports other φ: anyone can check the report against
    /// the table, and a dispute strikes it out and slashes the evaluator.
    Inconsistent,
    /// It fabricates a table from which its lies follow: no dispute can catch it, only the
    /// median outvotes it (and re-execution on the revealed validation text exposes it).
    Consistent,
}

/// The lies: every honest participant (`favoured[i]` false) pushed below zero by its own
/// value and a little more, every favoured one (the free-rider) credited with the honest
/// participants' whole value; standard errors at the resolution, so the lies look certain.
pub fn lie_values(v: &Valuation, favoured: &[bool]) -> Vec<f64> {
    let honest_total: f64 = v
        .values
        .iter()
        .zip(favoured)
        .filter(|(_, &f)| !f)
        .map(|(x, _)| x.abs())
        .sum();
    v.values
        .iter()
        .zip(favoured)
        .map(|(&x, &f)| {
            if f {
                honest_total.max(10.0 * RESOLUTION_NATS)
            } else {
                -x.abs() - 10.0 * RESOLUTION_NATS
            }
        })
        .collect()
}

/// A lying evaluator's table and report (see [`Lie`]); `honest` is its honest table.
pub fn lying_report(
    v: &Valuation,
    honest: &UtilityTable,
    favoured: &[bool],
    how: Lie,
) -> Result<(UtilityTable, Report), DemoError> {
    let lies = lie_values(v, favoured);
    let n = lies.len();
    let table = match how {
        Lie::Inconsistent => honest.clone(),
        // An additive game U(S) = Σ_{i ∈ S} lieᵢ: its Shapley values are the lies.
        Lie::Consistent => UtilityTable {
            estimator: Estimator::Exact,
            utilities: pack(
                &(0..(1usize << n))
                    .map(|m| (0..n).filter(|i| m >> i & 1 == 1).map(|i| lies[i]).sum())
                    .collect::<Vec<f64>>(),
            )?,
            ..honest.clone()
        },
    };
    let (from_table, delta_u) = decimals(&table)?;
    let scores = table
        .participants
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let value = match how {
                Lie::Consistent => from_table[i],
                Lie::Inconsistent => SignedDecimal::from_str(&format!("{:.9}", lies[i]))
                    .map_err(|e| DemoError::Config(format!("{}: {e}", lies[i])))?,
            };
            Ok(ParticipantScore {
                participant: p.clone(),
                value,
                std_error: std_error(RESOLUTION_NATS)?,
            })
        })
        .collect::<Result<Vec<_>, DemoError>>()?;
    let report = Report {
        aggregate_hash: HexBinary::from(v.aggregate_hash.to_vec()),
        table_hash: HexBinary::from(table.hash().to_vec()),
        delta_u,
        dof: v.dof,
        scores,
    };
    Ok((table, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valuation(utilities: Vec<f64>, estimator: Estimator, n: usize) -> Valuation {
        let (values, delta_u) = from_table(&utilities, estimator, n).expect("a table");
        Valuation {
            method: "test".into(),
            estimator,
            utilities,
            values,
            std_errors: vec![0.0; n],
            dof: 7,
            delta_u,
            alone: vec![],
            evaluations: 0,
            aggregate_hash: [1; 32],
            subsets: vec![],
        }
    }

    fn addrs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("wasm1p{i}")).collect()
    }

    #[test]
    fn an_honest_report_follows_from_its_table_exactly() {
        // Utilities with more digits than the table keeps: φ comes from the rounded table.
        let u = vec![0.0, 0.1234567891234, 0.0333333333333, 0.2000000004999];
        let v = valuation(u, Estimator::Exact, 2);
        let table = to_table(&v, &addrs(2), [0; 32]).expect("table");
        let r = to_report(&v, &table).expect("report");
        assert_eq!(r.table_hash.as_slice(), table.hash().as_slice());
        assert!(report::check(&r, &table).expect("checkable").is_empty());
        assert_eq!(r.delta_u, SignedDecimal::from_str("0.2").expect("decimal"));
        assert!(r
            .scores
            .iter()
            .all(|s| s.std_error >= std_error(0.0).expect("floor")));
    }

    #[test]
    fn a_sampled_report_follows_from_its_permutations() {
        // An additive game sampled along the seed's permutations.
        let n = 10;
        let w: Vec<f64> = (0..n).map(|i| 0.001 * i as f64 - 0.002).collect();
        let estimator = Estimator::Permutations { seed: 9, count: 5 };
        let mut u = vec![];
        for k in 0..5 {
            let mut acc = 0.0;
            for p in report::permutation(9, k, n) {
                acc += w[p];
                u.push(acc);
            }
        }
        let v = valuation(u, estimator, n);
        for (got, want) in v.values.iter().zip(&w) {
            assert!((got - want).abs() < 1e-8, "{got} vs {want}");
        }
        let table = to_table(&v, &addrs(n), [0; 32]).expect("table");
        let r = to_report(&v, &table).expect("report");
        assert!(report::check(&r, &table).expect("checkable").is_empty());
    }

    #[test]
    fn inconsistent_lies_are_caught_by_the_table_and_consistent_ones_are_not() {
        let u = vec![0.0, 0.01, 0.0, 0.01, 0.004, 0.014, 0.004, 0.014];
        let v = valuation(u, Estimator::Exact, 3);
        let honest = to_table(&v, &addrs(3), [0; 32]).expect("table");
        let favoured = [false, true, false];
        let (t, r) = lying_report(&v, &honest, &favoured, Lie::Inconsistent).expect("lie");
        assert_eq!(t, honest);
        let found = report::check(&r, &t).expect("checkable");
        assert_eq!(found.len(), 3, "every φ is off: {found:?}");
        let (t, r) = lying_report(&v, &honest, &favoured, Lie::Consistent).expect("lie");
        assert!(report::check(&r, &t).expect("checkable").is_empty());
        assert!(r.scores[0].value.is_negative() && r.scores[2].value.is_negative());
        assert!(r.scores[1].value > SignedDecimal::from_str("0.01").expect("decimal"));
    }
}

//! Utilities given as a table of coalition values, read from JSON or CSV.
//!
//! # JSON
//! ```json
//! { "n_players": 3,
//!   "values": [ { "coalition": [0, 2], "value": 1.5 },
//!               { "coalition": "111",  "value": 2.0 } ] }
//! ```
//! A coalition is a list of player indices (0-based) or a bitstring whose character `i` is
//! player `i`. `n_players` may be left out when bitstrings are used (their length) or when the
//! grand coalition is listed (largest index + 1).
//!
//! # CSV
//! ```text
//! # n_players = 3
//! coalition,value
//! 101,1.5
//! {0;1;2},2.0
//! {},0
//! ```
//! One `coalition,value` row per line; the header row and `#` comment lines are optional.
//! The coalition is a bitstring or a brace-enclosed list of indices separated by `;` or
//! spaces. `n_players` comes from a `# n_players = N` comment, else from the bitstring
//! length, else from the largest index + 1.
//!
//! In both forms the empty coalition is worth 0 unless listed, a repeated coalition is an
//! error, and asking for a coalition the table lacks is an error that names it.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::coalition::Coalition;
use crate::error::{Result, ShapleyError};
use crate::utility::Utility;

/// A game given by an explicit table of coalition values.
#[derive(Debug, Clone)]
pub struct TableUtility {
    n: usize,
    store: Store,
}

/// Coalitions of at most 64 players are keyed by their mask: cheaper to hash. A complete
/// table of at most 25 players is a plain array indexed by mask: no hashing at all.
#[derive(Debug, Clone)]
enum Store {
    Dense(Vec<f64>),
    Small(HashMap<u64, f64>),
    Large(HashMap<Coalition, f64>),
}

impl TableUtility {
    /// A table from `(coalition, value)` pairs over `n` players.
    pub fn from_entries(
        n: usize,
        entries: impl IntoIterator<Item = (Coalition, f64)>,
    ) -> Result<Self> {
        let mut t = Self {
            n,
            store: if n <= 64 {
                Store::Small(HashMap::new())
            } else {
                Store::Large(HashMap::new())
            },
        };
        for (c, v) in entries {
            t.insert(c, v)?;
        }
        t.densify();
        Ok(t)
    }

    /// Switches a complete table of at most 25 players (U(∅) may be missing: it is 0) to the
    /// array store.
    fn densify(&mut self) {
        if let Store::Small(m) = &self.store {
            let full = 1usize << self.n.min(63);
            if self.n <= crate::exact::EXACT_MAX_PLAYERS
                && m.len() + usize::from(!m.contains_key(&0)) == full
            {
                let mut dense = vec![0.0; full];
                for (&k, &v) in m {
                    dense[k as usize] = v;
                }
                self.store = Store::Dense(dense);
            }
        }
    }

    /// Tabulates every coalition of another utility (at most 25 players).
    pub fn tabulate<U: Utility + ?Sized>(u: &U) -> Result<Self> {
        let n = u.n_players();
        if n > crate::exact::EXACT_MAX_PLAYERS {
            return Err(ShapleyError::TooManyPlayers {
                method: "tabulation",
                n,
                max: crate::exact::EXACT_MAX_PLAYERS,
            });
        }
        let values = crate::exact::evaluate_all(u, n)?;
        let map = values
            .into_iter()
            .enumerate()
            .map(|(m, v)| (m as u64, v))
            .collect();
        Ok(Self {
            n,
            store: Store::Small(map),
        })
    }

    fn insert(&mut self, c: Coalition, v: f64) -> Result<()> {
        if c.n_players() != self.n {
            return Err(ShapleyError::InvalidParameter(format!(
                "coalition {} is over {} players, the table over {}",
                c,
                c.n_players(),
                self.n
            )));
        }
        if !v.is_finite() {
            return Err(ShapleyError::InvalidParameter(format!(
                "coalition {c} has a non-finite value {v}"
            )));
        }
        let fresh = match &mut self.store {
            Store::Dense(d) => {
                // Dense tables are built complete; overwriting keeps them so.
                d[c.first_word() as usize] = v;
                true
            }
            Store::Small(m) => m.insert(c.first_word(), v).is_none(),
            Store::Large(m) => m.insert(c.clone(), v).is_none(),
        };
        if fresh {
            Ok(())
        } else {
            Err(ShapleyError::InvalidParameter(format!(
                "coalition {c} appears twice in the table"
            )))
        }
    }

    /// Number of coalitions listed.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Dense(d) => d.len(),
            Store::Small(m) => m.len(),
            Store::Large(m) => m.len(),
        }
    }

    /// Whether the table lists no coalition.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All entries as CSV in bitstring form, sorted by bitstring (for benchmarks and tests).
    pub fn to_csv(&self) -> String {
        let mut rows: Vec<(String, f64)> = match &self.store {
            Store::Dense(d) => d
                .iter()
                .enumerate()
                .map(|(k, &v)| {
                    let c = Coalition::from_mask(self.n, k as u64)
                        .expect("dense tables index masks below 2^n");
                    (c.to_bitstring(), v)
                })
                .collect(),
            Store::Small(m) => m
                .iter()
                .map(|(&k, &v)| {
                    let c = Coalition::from_mask(self.n, k)
                        .expect("stored masks were built from coalitions over n players");
                    (c.to_bitstring(), v)
                })
                .collect(),
            Store::Large(m) => m.iter().map(|(c, &v)| (c.to_bitstring(), v)).collect(),
        };
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = format!("# n_players = {}\ncoalition,value\n", self.n);
        for (c, v) in rows {
            out.push_str(&format!("{c},{v:?}\n"));
        }
        out
    }

    /// Reads a table from a `.json` file or, for any other extension, CSV.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ShapleyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json(&text)
        } else {
            Self::from_csv(&text)
        }
    }

    /// Parses the JSON form (see the module docs).
    pub fn from_json(text: &str) -> Result<Self> {
        let file: JsonTable = serde_json::from_str(text).map_err(|e| ShapleyError::Parse {
            line: e.line(),
            message: e.to_string(),
        })?;
        let raw: Vec<(RawCoalition, f64)> = file
            .values
            .into_iter()
            .map(|e| {
                let c = match e.coalition {
                    JsonCoalition::Players(p) => RawCoalition::Players(p),
                    JsonCoalition::Bits(b) => RawCoalition::Bits(b),
                };
                (c, e.value)
            })
            .collect();
        Self::from_raw(file.n_players, raw)
    }

    /// Parses the CSV form (see the module docs).
    pub fn from_csv(text: &str) -> Result<Self> {
        let mut declared_n = None;
        let mut raw = Vec::new();
        for (k, line) in text.lines().enumerate() {
            let line_no = k + 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                if let Some((key, val)) = comment.split_once('=') {
                    if key.trim() == "n_players" {
                        declared_n =
                            Some(
                                val.trim()
                                    .parse::<usize>()
                                    .map_err(|e| ShapleyError::Parse {
                                        line: line_no,
                                        message: format!("n_players {:?}: {e}", val.trim()),
                                    })?,
                            );
                    }
                }
                continue;
            }
            let (coal, val) = line.rsplit_once(',').ok_or_else(|| ShapleyError::Parse {
                line: line_no,
                message: format!("expected `coalition,value`, got {line:?}"),
            })?;
            let coal = coal.trim();
            let val = val.trim();
            let value: f64 = match val.parse() {
                Ok(v) => v,
                Err(_) if raw.is_empty() && !coal.starts_with('{') && !is_bits(coal) => continue, // header
                Err(e) => {
                    return Err(ShapleyError::Parse {
                        line: line_no,
                        message: format!("value {val:?}: {e}"),
                    })
                }
            };
            let c = if let Some(inner) = coal.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let players = inner
                    .split([';', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<usize>().map_err(|e| ShapleyError::Parse {
                            line: line_no,
                            message: format!("player index {s:?}: {e}"),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                RawCoalition::Players(players)
            } else if is_bits(coal) {
                RawCoalition::Bits(coal.to_string())
            } else {
                return Err(ShapleyError::Parse {
                    line: line_no,
                    message: format!(
                        "coalition {coal:?} is neither a bitstring nor a list like {{0;2;5}}"
                    ),
                });
            };
            raw.push((c, value, line_no));
        }
        let lines: Vec<usize> = raw.iter().map(|r| r.2).collect();
        Self::from_raw(
            declared_n,
            raw.into_iter().map(|(c, v, _)| (c, v)).collect(),
        )
        .map_err(|e| relabel_line(e, &lines))
    }

    fn from_raw(declared_n: Option<usize>, raw: Vec<(RawCoalition, f64)>) -> Result<Self> {
        let n = match declared_n {
            Some(n) => n,
            None => {
                let bits = raw.iter().find_map(|(c, _)| match c {
                    RawCoalition::Bits(b) => Some(b.len()),
                    RawCoalition::Players(_) => None,
                });
                match bits {
                    Some(len) => len,
                    None => raw
                        .iter()
                        .filter_map(|(c, _)| match c {
                            RawCoalition::Players(p) => p.iter().max().map(|m| m + 1),
                            RawCoalition::Bits(_) => None,
                        })
                        .max()
                        .unwrap_or(0),
                }
            }
        };
        let mut entries = Vec::with_capacity(raw.len());
        for (k, (c, v)) in raw.into_iter().enumerate() {
            let coalition = match c {
                RawCoalition::Players(p) => Coalition::from_players(n, &p),
                RawCoalition::Bits(b) => {
                    if b.len() != n {
                        Err(ShapleyError::Parse {
                            line: k + 1,
                            message: format!(
                                "bitstring {b:?} has length {}, expected {n}",
                                b.len()
                            ),
                        })
                    } else {
                        Coalition::from_bitstring(&b)
                    }
                }
            }
            .map_err(|e| entry_error(e, k))?;
            entries.push((coalition, v));
        }
        Self::from_entries(n, entries)
    }
}

fn is_bits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c == '0' || c == '1')
}

/// Tags an entry-level error with its entry index (replaced by the line number for CSV).
fn entry_error(e: ShapleyError, entry: usize) -> ShapleyError {
    match e {
        ShapleyError::Parse { message, .. } => ShapleyError::Parse {
            line: entry + 1,
            message,
        },
        other => ShapleyError::Parse {
            line: entry + 1,
            message: other.to_string(),
        },
    }
}

/// Maps an entry index (1-based) in a parse error to its CSV line number.
fn relabel_line(e: ShapleyError, lines: &[usize]) -> ShapleyError {
    match e {
        ShapleyError::Parse { line, message } if line >= 1 && line <= lines.len() => {
            ShapleyError::Parse {
                line: lines[line - 1],
                message,
            }
        }
        other => other,
    }
}

enum RawCoalition {
    Players(Vec<usize>),
    Bits(String),
}

#[derive(Deserialize)]
struct JsonTable {
    n_players: Option<usize>,
    values: Vec<JsonEntry>,
}

#[derive(Deserialize)]
struct JsonEntry {
    coalition: JsonCoalition,
    value: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonCoalition {
    Players(Vec<usize>),
    Bits(String),
}

impl Utility for TableUtility {
    fn n_players(&self) -> usize {
        self.n
    }

    fn value(&self, c: &Coalition) -> Result<f64> {
        let found = match &self.store {
            Store::Dense(d) => d.get(c.first_word() as usize).copied(),
            Store::Small(m) => m.get(&c.first_word()).copied(),
            Store::Large(m) => m.get(c).copied(),
        };
        match found {
            Some(v) => Ok(v),
            None if c.is_empty() => Ok(0.0),
            None => Err(ShapleyError::MissingCoalition {
                coalition: c.to_string(),
                bitstring: c.to_bitstring(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::exact_shapley;

    const CSV: &str =
        "# n_players = 3\ncoalition,value\n100,1\n010,1\n001,1\n{0;1},3\n101,3\n{1 2},3\n111,6\n";

    #[test]
    fn csv_and_json_forms_agree() {
        let a = TableUtility::from_csv(CSV).expect("valid csv");
        let json = r#"{"values":[
            {"coalition":[0],"value":1},{"coalition":"010","value":1},{"coalition":[2],"value":1},
            {"coalition":[0,1],"value":3},{"coalition":[0,2],"value":3},{"coalition":[1,2],"value":3},
            {"coalition":[0,1,2],"value":6},{"coalition":[],"value":0}]}"#;
        let b = TableUtility::from_json(json).expect("valid json");
        let ea = exact_shapley(&a).expect("complete table");
        let eb = exact_shapley(&b).expect("complete table");
        assert_eq!(ea.values, eb.values);
        assert!(ea.values.iter().all(|v| (v - 2.0).abs() < 1e-12));
    }

    #[test]
    fn missing_coalition_is_named() {
        let t = TableUtility::from_csv("111,6\n100,1\n").expect("valid csv");
        let err = exact_shapley(&t).expect_err("table is incomplete");
        let msg = err.to_string();
        assert!(msg.contains("no value for coalition {"), "{msg}");
    }

    #[test]
    fn bad_tables_are_errors_with_lines() {
        let dup = TableUtility::from_csv("11,1\n11,2\n");
        assert!(dup.is_err());
        let bad = TableUtility::from_csv("coalition,value\n11,1\n1x,2\n").expect_err("bad row");
        assert!(bad.to_string().contains("line 3"), "{bad}");
        let len = TableUtility::from_csv("11,1\n111,2\n").expect_err("length mismatch");
        assert!(len.to_string().contains("line 2"), "{len}");
        assert!(TableUtility::from_json(
            "{\"values\": [{\"coalition\": [5], \"value\": 1}], \"n_players\": 2}"
        )
        .is_err());
        assert!(TableUtility::from_csv("11,NaN\n").is_err());
    }

    #[test]
    fn tabulate_roundtrips_through_csv() {
        let g = crate::games::AirportGame::new(vec![1.0, 2.5, 4.0]).expect("ok");
        let t = TableUtility::tabulate(&g).expect("small game");
        let back = TableUtility::from_csv(&t.to_csv()).expect("own output parses");
        assert_eq!(back.len(), 8);
        let e = exact_shapley(&back).expect("complete");
        let want = g.shapley_values();
        for (x, y) in e.values.iter().zip(&want) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}

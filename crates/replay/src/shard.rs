//! `--shard K/N`: the K-th of N slices of the fix verification, for a CI matrix.
//!
//! Slicing is by position among the verifiable fixes in registry order (`index % N == K - 1`),
//! so every shard computes the same slices from the same policy without talking to the
//! others. The chain-level checks (static checks, upgrade from empty, heads, drift, round trip)
//! run in shard 1 only. Each shard's report carries a "Shard" section naming its slice and
//! every fix of the registry, so `gate-approve report --replay` can tell a complete set of
//! shards from one that is missing.

use std::fmt;
use std::str::FromStr;

use gate_policy::Script;
use gate_report::Section;
use serde_json::json;

use crate::ctx::Settings;
use crate::fixes;

/// One slice: `index` of `count`, both 1-based, `1 <= index <= count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// `--shard` that is not `K/N` with `1 <= K <= N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--shard `{0}` is not K/N with 1 <= K <= N (e.g. --shard 2/3: the second of three slices)")]
pub struct BadShard(String);

impl FromStr for Shard {
    type Err = BadShard;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadShard(s.to_string());
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the fix at `position` (0-based, among the verifiable fixes) is in this slice.
    pub fn covers(self, position: usize) -> bool {
        // u32 -> usize never truncates on the platforms we build for.
        position % self.count as usize == (self.index - 1) as usize
    }

    /// The chain-level checks belong to shard 1 alone: N shards must not report them N times.
    pub fn runs_chain_checks(self) -> bool {
        self.index == 1
    }
}

/// Whether this run does the chain-level checks: unsharded, or shard 1.
pub(crate) fn runs_chain_checks(settings: &Settings) -> bool {
    settings.shard.is_none_or(Shard::runs_chain_checks)
}

/// The fixes this run verifies: every verifiable one, or this shard's slice of them.
pub(crate) fn fixes_of(settings: &Settings) -> impl Iterator<Item = &Script> {
    fixes::verifiable(settings)
        .enumerate()
        .filter(move |(i, _)| settings.shard.is_none_or(|s| s.covers(*i)))
        .map(|(_, s)| s)
}

/// Which shard this is, the fixes it covered and every fix of the registry (the join's
/// completeness check); `None` when the run is not sharded.
pub(crate) fn section(settings: &Settings) -> Option<Section> {
    let shard = settings.shard?;
    let all: Vec<&str> = fixes::verifiable(settings)
        .map(|s| s.path.as_str())
        .collect();
    let covered: Vec<&str> = if settings.fixes {
        fixes_of(settings).map(|s| s.path.as_str()).collect()
    } else {
        Vec::new()
    };
    let chain = if shard.runs_chain_checks() {
        "with the chain-level checks"
    } else {
        "the chain-level checks are shard 1's"
    };
    let names = if covered.is_empty() {
        "none".to_string()
    } else {
        covered.join(", ")
    };
    let line = format!(
        "shard {shard}: {} of {} fix(es) verified here ({chain}): {names}",
        covered.len(),
        all.len()
    );
    Some(Section {
        title: "Shard".into(),
        text: format!("{line}\n"),
        markdown: format!("{}\n", gate_report::render::markdown_escape(&line)),
        data: json!({
            "shard": shard.index,
            "of": shard.count,
            "chain_checks": shard.runs_chain_checks(),
            "fixes": covered,
            "all_fixes": all,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_of_n_parses_only_within_bounds() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(" 1 / 1 ".parse(), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "-1/2", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_position_is_in_exactly_one_shard() {
        for count in 1..=5u32 {
            for position in 0..17usize {
                let owners = (1..=count)
                    .filter(|&index| Shard { index, count }.covers(position))
                    .count();
                assert_eq!(owners, 1, "position {position} of {count} shards");
            }
        }
        assert!(Shard { index: 1, count: 2 }.covers(0));
        assert!(Shard { index: 2, count: 2 }.covers(1));
    }
}

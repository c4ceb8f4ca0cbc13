//! A chain cut into contiguous parts that are checked at the same time, each on a database of
//! its own brought first to where the part starts (the stairway, the seeded pass): every
//! revision's check depends only on the schema before it, which an upgrade from empty gives a
//! part's first revision as well as the previous revision's check does.

/// Fewest revisions a segment of its own is worth: each costs a database, an interpreter and
/// an upgrade to where it starts.
pub(crate) const SEGMENT_MIN: usize = 25;

/// What a stairway part costs, in one unit: what one revision's objects add to the three
/// catalog fingerprints taken at each later revision (about 0.4 ms of server CPU for the
/// benchmark chain's tables). Stepping revision `i` costs three steps and three fingerprints'
/// fixed part ([`STEP_COST`], about 32 ms) and three fingerprints of the schema `i` revisions
/// built (`i`); a part starting at `s` first upgrades through `s` revisions ([`UPGRADE_COST`]
/// each, about 10 ms). Measured on the 200-revision benchmark chain (docs/BENCHMARKS.md,
/// "Stairway", round 4). A chain whose revisions add less schema than one table each makes
/// later revisions cost less than this says, and its parts come out less even (never less
/// correct: where a chain is cut changes only which database steps which revision).
const STEP_COST: u64 = 85;
const UPGRADE_COST: u64 = 28;

/// The cost of stepping revisions `start..end` on a part of their own.
fn cost(start: usize, end: usize) -> u64 {
    let (s, e) = (start as u64, end as u64);
    // The sum of i over s..e, plus the steps, plus the upgrade to s.
    UPGRADE_COST * s + STEP_COST * (e - s) + (e * e.saturating_sub(1) - s * s.saturating_sub(1)) / 2
}

/// The upgrade order cut into at most `parallel` contiguous ranges of at least
/// [`SEGMENT_MIN`] revisions, cut where the parts cost about the same ([`cost`]) rather than
/// where they hold as many revisions: a later revision costs more (its fingerprints read a
/// larger schema, its part first upgrades to where it starts), and equal halves of the
/// benchmark chain left the second running alone long after the first was done.
pub(crate) fn segments(revisions: usize, parallel: usize) -> Vec<std::ops::Range<usize>> {
    let count = (revisions / SEGMENT_MIN).clamp(1, parallel.max(1));
    if count == 1 {
        return std::iter::once(0..revisions).collect();
    }
    // The least bound on a part's cost that `count` parts keep to (the whole chain's cost is
    // one: no part costs more than the chain from the start).
    let (mut low, mut high) = (0, cost(0, revisions));
    while low < high {
        let mid = low + (high - low) / 2;
        if cut(revisions, count, mid).is_some() {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    cut(revisions, count, high).unwrap_or_else(|| std::iter::once(0..revisions).collect())
}

/// `count` contiguous parts of at least [`SEGMENT_MIN`] revisions costing at most `bound` each,
/// each as long as the bound and the parts after it allow (a later part costs more per
/// revision, so a longer first part never hurts the rest); `None` when there are none.
fn cut(revisions: usize, count: usize, bound: u64) -> Option<Vec<std::ops::Range<usize>>> {
    let mut parts = Vec::with_capacity(count);
    let mut start = 0;
    for k in 0..count {
        let last = revisions - SEGMENT_MIN * (count - 1 - k);
        let mut end = start;
        while end < last && cost(start, end + 1) <= bound {
            end += 1;
        }
        if end - start < SEGMENT_MIN || (k + 1 == count && end < revisions) {
            return None;
        }
        parts.push(start..end);
        start = end;
    }
    Some(parts)
}

/// The revisions of `applied` that no other revision of it builds on.
pub(crate) fn heads<'a>(applied: &[&'a gate_chain::Revision]) -> Vec<&'a str> {
    applied
        .iter()
        .filter(|r| !applied.iter().any(|o| o.parents.contains(&r.id)))
        .map(|r| r.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_contiguous_and_cover_the_chain() {
        for (revisions, parallel) in [
            (0, 2),
            (13, 2),
            (49, 2),
            (50, 2),
            (200, 2),
            (201, 3),
            (60, 8),
        ] {
            let ranges = segments(revisions, parallel);
            assert!(!ranges.is_empty() && ranges.len() <= parallel);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().unwrap().end, revisions);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            if ranges.len() > 1 {
                assert!(ranges.iter().all(|r| r.len() >= SEGMENT_MIN), "{ranges:?}");
            }
        }
        assert_eq!(segments(13, 2).len(), 1);
        assert_eq!(segments(200, 1), vec![0..200]);
    }

    #[test]
    fn later_revisions_get_shorter_parts_of_about_the_same_cost() {
        let parts = segments(200, 2);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].len() > parts[1].len(), "{parts:?}");
        let costs: Vec<u64> = parts.iter().map(|p| cost(p.start, p.end)).collect();
        let (max, min) = (costs.iter().max().unwrap(), costs.iter().min().unwrap());
        assert!(max - min <= max / 20, "{parts:?} cost {costs:?}");
        // An equal cut costs more at its slowest part.
        assert!(*max < cost(100, 200), "{costs:?}");
        let parts = segments(1000, 4);
        assert!(
            parts.windows(2).all(|w| w[0].len() > w[1].len()),
            "{parts:?}"
        );
    }
}

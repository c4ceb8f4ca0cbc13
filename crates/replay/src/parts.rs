//! A chain cut into contiguous parts that are checked at the same time, each on a database of
//! its own brought first to where the part starts (the stairway, the seeded pass): every
//! revision's check depends only on the schema before it, which an upgrade from empty gives a
//! part's first revision as well as the previous revision's check does.

/// Fewest revisions a segment of its own is worth: each costs a database, an interpreter and
/// an upgrade to where it starts.
pub(crate) const SEGMENT_MIN: usize = 25;

/// What a stairway part costs, in one unit: what one revision's objects add to the three
/// catalog fingerprints taken at each later revision (about 0.2 ms of a quiet machine for the
/// benchmark chain's tables). Stepping revision `i` costs three steps and three fingerprints'
/// fixed part ([`STEP_COST`], about 55 ms) and three fingerprints of the schema `i` revisions
/// built (`i`); a part starting at `s` first upgrades through `s` revisions ([`UPGRADE_COST`]
/// each, 17-28 ms: more while the main replay runs next to it). Fitted to the two parts' times
/// of the 200-revision benchmark chain (docs/BENCHMARKS.md, "Stairway", round 5). A chain whose
/// revisions add less schema than one table each makes later revisions cost less than this
/// says, and its parts come out less even (never less correct: where a chain is cut changes
/// only which database steps which revision); the last cut is moved while the parts run
/// ([`Cut`]).
const STEP_COST: u64 = 280;
const UPGRADE_COST: u64 = 110;

/// The cost of stepping revisions `start..end` on a part of their own.
fn cost(start: usize, end: usize) -> u64 {
    UPGRADE_COST * start as u64 + steps_cost(start, end)
}

/// The cost of stepping revisions `start..end`, without getting to `start`.
fn steps_cost(start: usize, end: usize) -> u64 {
    let (s, e) = (start as u64, end.max(start) as u64);
    // The sum of i over s..e, plus the steps.
    STEP_COST * (e - s) + (e * e.saturating_sub(1) - s * s.saturating_sub(1)) / 2
}

/// Where the last part of a chain starts, decided while the parts run rather than from
/// [`cost`] alone: how fast the last part's first upgrade goes against the stepping of the part
/// before depends on the machine's load (17-28 ms against about 55 ms per revision in round 5:
/// the cost model's cut left one part running alone for a second either way). The last part
/// upgrades in one go to a little before the model's cut ([`Cut::early_start`]), then one
/// revision at a time, and starts stepping where the part before has as much left to step
/// as it has itself ([`Cut::decide`]); the part before steps up to there ([`Cut::take`]).
/// Neither part ever waits for the other, and each revision is stepped by exactly one part.
#[derive(Debug)]
pub(crate) struct Cut {
    revisions: usize,
    state: std::sync::Mutex<CutState>,
}

#[derive(Debug)]
struct CutState {
    /// The part before the cut has taken every revision before this one.
    taken: usize,
    /// Where the last part starts, once decided (`revisions`: it steps nothing).
    at: Option<usize>,
    /// The part before stopped at a broken revision: what the last part finds is not reported.
    stopped: bool,
}

/// What the last part does at a revision ([`Cut::decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start stepping here.
    Start,
    /// Upgrade one more revision and ask again.
    Advance,
    /// Step nothing: the part before steps the rest, or stopped.
    Abandon,
}

impl Cut {
    /// A cut in a chain of `revisions`, the part before it starting at `before_start`.
    pub(crate) fn new(revisions: usize, before_start: usize) -> Cut {
        Cut {
            revisions,
            state: std::sync::Mutex::new(CutState {
                taken: before_start,
                at: None,
                stopped: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CutState> {
        // The state stays consistent whatever panicked while it was held (plain fields).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the last part upgrades to in one go: a fifth before the cost model's cut, and not
    /// before where the part before starts.
    pub(crate) fn early_start(model_start: usize, before_start: usize) -> usize {
        (model_start - model_start / 5).max(before_start)
    }

    /// Whether the part before the cut steps revision `i` (it asks in order): not once the
    /// last part starts at or before it, nor past the chain.
    pub(crate) fn take(&self, i: usize) -> bool {
        let mut s = self.state();
        if i >= self.revisions || s.at.is_some_and(|at| i >= at) {
            return false;
        }
        s.taken = s.taken.max(i + 1);
        true
    }

    /// The part before stopped at a broken revision.
    pub(crate) fn stop(&self) {
        self.state().stopped = true;
    }

    /// The last part gives up (its upgrade to where it would start failed): the part before
    /// steps the rest of the chain, and meets the failure itself.
    pub(crate) fn abandon(&self) {
        let mut s = self.state();
        if s.at.is_none() {
            s.at = Some(self.revisions);
        }
    }

    /// The last part, with every revision before `p` applied: start stepping at `p` when the
    /// part before has at least as much left to step as `p..` costs.
    pub(crate) fn decide(&self, p: usize) -> Decision {
        let mut s = self.state();
        if s.stopped || s.at.is_some() {
            return Decision::Abandon;
        }
        if p >= self.revisions {
            s.at = Some(self.revisions);
            return Decision::Abandon;
        }
        if s.taken > p || steps_cost(s.taken, p) < steps_cost(p, self.revisions) {
            return Decision::Advance;
        }
        s.at = Some(p);
        Decision::Start
    }
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
    fn each_revision_is_stepped_by_one_part_whichever_runs_ahead() {
        // The last part decides at 120 while the part before is at 30: it starts there.
        let cut = Cut::new(200, 0);
        assert!((0..30).all(|i| cut.take(i)));
        assert_eq!(cut.decide(100), Decision::Advance);
        assert_eq!(cut.decide(150), Decision::Start);
        assert!((30..150).all(|i| cut.take(i)));
        assert!(!cut.take(150));
        // The part before ran ahead of the last part's upgrade: the last part goes on.
        let cut = Cut::new(200, 0);
        assert!((0..160).all(|i| cut.take(i)));
        assert_eq!(cut.decide(150), Decision::Advance);
        assert_eq!(cut.decide(160), Decision::Advance);
        assert_eq!(cut.decide(190), Decision::Start);
        assert!(cut.take(160) && !cut.take(190));
        // It never caught up: the part before steps everything.
        let cut = Cut::new(200, 0);
        assert!((0..200).all(|i| cut.take(i)));
        assert_eq!(cut.decide(200), Decision::Abandon);
        assert!(!cut.take(200));
        // Abandoned (its upgrade failed) or the part before stopped: nothing for the last part.
        let cut = Cut::new(200, 0);
        cut.abandon();
        assert!((0..200).all(|i| cut.take(i)));
        let cut = Cut::new(200, 0);
        cut.stop();
        assert_eq!(cut.decide(150), Decision::Abandon);
        assert_eq!(Cut::early_start(130, 0), 104);
        assert_eq!(Cut::early_start(30, 28), 28);
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

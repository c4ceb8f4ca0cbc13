//! A chain cut into contiguous parts that are checked at the same time, each on a database of
//! its own brought first to where the part starts (the stairway, the seeded pass): every
//! revision's check depends only on the schema before it, which an upgrade from empty gives a
//! part's first revision as well as the previous revision's check does.

/// Fewest revisions a segment of its own is worth: each costs a database, an interpreter and
/// an upgrade to where it starts.
pub(crate) const SEGMENT_MIN: usize = 25;

/// The upgrade order cut into at most `parallel` contiguous ranges of at least
/// [`SEGMENT_MIN`] revisions.
pub(crate) fn segments(revisions: usize, parallel: usize) -> Vec<std::ops::Range<usize>> {
    let count = (revisions / SEGMENT_MIN).clamp(1, parallel.max(1));
    (0..count)
        .map(|k| revisions * k / count..revisions * (k + 1) / count)
        .collect()
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
        assert_eq!(segments(200, 2), vec![0..100, 100..200]);
        assert_eq!(segments(200, 1), vec![0..200]);
    }
}

//! The byte window that holds every difference between two versions of policy.toml, so
//! only the tables inside it need parsing.

/// Bytes `[start, end)` of `a` and `[start, end_b)` of `b` hold every difference between the
/// two texts, widened to whole tables: outside them the texts are identical, so every entry
/// outside is the same in both versions and only the entries inside need parsing.
pub(super) fn changed_window(a: &[u8], b: &[u8]) -> (usize, usize, usize) {
    // Whole chunks first (memcmp), then bytes: versions are hundreds of kilobytes.
    const CHUNK: usize = 256;
    let mut prefix = a
        .chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .take_while(|(x, y)| x == y)
        .count()
        * CHUNK;
    prefix = prefix.min(a.len()).min(b.len());
    prefix += a[prefix..]
        .iter()
        .zip(&b[prefix..])
        .take_while(|(x, y)| x == y)
        .count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let (ra, rb) = (&a[a.len() - max_suffix..], &b[b.len() - max_suffix..]);
    let mut suffix = ra
        .rchunks(CHUNK)
        .zip(rb.rchunks(CHUNK))
        .take_while(|(x, y)| x == y)
        .count()
        * CHUNK;
    suffix = suffix.min(max_suffix);
    suffix += ra[..max_suffix - suffix]
        .iter()
        .rev()
        .zip(rb[..max_suffix - suffix].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    // Back to the start of the table header before the first difference ...
    let start = a[..prefix]
        .windows(2)
        .rposition(|w| w == b"\n[")
        .map_or(0, |i| i + 1);
    // ... and on to the next table header after the last one.
    let tail_a = a.len() - suffix;
    let grow = a[tail_a..]
        .windows(2)
        .position(|w| w == b"\n[")
        .map_or(suffix, |i| i + 1);
    let end_a = tail_a + grow;
    let end_b = b.len() - suffix + grow;
    (start, end_a, end_b)
}

pub(super) fn has_multiline_strings(t: &[u8]) -> bool {
    // The regex engine finds literals with SIMD; a byte loop here dominated the whole walk.
    static RE: std::sync::LazyLock<regex::bytes::Regex> =
        std::sync::LazyLock::new(|| regex::bytes::Regex::new("\"\"\"|'''").expect("valid regex"));
    RE.is_match(t)
}

//! Commit trailers, found the way `git interpret-trailers --parse` finds them.

/// Trailers of a commit message, the way `git interpret-trailers --parse` finds them: only
/// the last paragraph, never the subject paragraph, and only when every line of it is a
/// `Token: value` line (or an indented continuation). Git also accepts a block that is 25%
/// trailers; this is stricter on purpose, so that prose mentioning "Approved-by:" never counts.
pub fn trailers(message: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = message
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::trim_end)
        .collect();
    let mut paragraphs: Vec<Vec<&str>> = vec![Vec::new()];
    for l in lines {
        if l.is_empty() {
            if !paragraphs.last().is_some_and(Vec::is_empty) {
                paragraphs.push(Vec::new());
            }
        } else if let Some(p) = paragraphs.last_mut() {
            p.push(l);
        }
    }
    if paragraphs.last().is_some_and(Vec::is_empty) {
        paragraphs.pop();
    }
    if paragraphs.len() < 2 {
        return Vec::new();
    }
    let block = paragraphs.last().cloned().unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for l in block {
        if l.starts_with(' ') || l.starts_with('\t') {
            match out.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(l.trim());
                    continue;
                }
                None => return Vec::new(),
            }
        }
        let Some((token, value)) = l.split_once(':') else {
            return Vec::new();
        };
        let token = token.trim_end();
        let valid = !token.is_empty()
            && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !token.starts_with('-');
        if !valid {
            return Vec::new();
        }
        out.push((token.to_string(), value.trim().to_string()));
    }
    out
}

/// The email in a trailer value: `Name <email>` or a bare `email`.
pub fn trailer_email(value: &str) -> String {
    match (value.find('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].trim().to_string(),
        _ => value.trim().to_string(),
    }
}

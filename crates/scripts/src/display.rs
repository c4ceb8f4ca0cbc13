//! Paths as users read them and paste them: one file name can hold a newline or bytes that
//! are not UTF-8, and a finding must neither forge an output line nor suggest a command that
//! runs something else.

/// A path as users should read it: unchanged when it is plain UTF-8 without control
/// characters, else quoted with escapes (`"a\nb"`, `"caf\xe9.py"`) so a newline or a raw
/// byte cannot forge or garble a line of output.
pub fn display_path(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("\"{}\"", escape(raw)),
    }
}

fn escape(raw: &[u8]) -> String {
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Quote a path for a POSIX shell command line the user can paste: bare when it is made of
/// safe characters, `'...'` otherwise, and bash's `$'...'` when it holds control characters
/// or non-UTF-8 bytes. A leading `-` gets a `./` so it cannot be read as an option.
pub fn shell_quote(raw: &[u8]) -> String {
    let dashed = raw.first() == Some(&b'-');
    let mut owned;
    let raw = if dashed {
        owned = b"./".to_vec();
        owned.extend_from_slice(raw);
        &owned[..]
    } else {
        raw
    };
    let safe = |b: &u8| b.is_ascii_alphanumeric() || b"_./-+,:@%=".contains(b);
    if !raw.is_empty() && raw.iter().all(safe) {
        return String::from_utf8_lossy(raw).into_owned();
    }
    match std::str::from_utf8(raw) {
        Ok(s) if !s.chars().any(char::is_control) => format!("'{}'", s.replace('\'', r"'\''")),
        _ => format!("$'{}'", escape(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_shown_unchanged() {
        assert_eq!(display_path(b"emergency fix.py"), "emergency fix.py");
        assert_eq!(display_path("répare.py".as_bytes()), "répare.py");
    }

    #[test]
    fn control_characters_and_raw_bytes_are_escaped() {
        assert_eq!(display_path(b"a\nb.py"), "\"a\\nb.py\"");
        assert_eq!(display_path(b"caf\xe9_fix.py"), "\"caf\\xe9_fix.py\"");
    }

    #[test]
    fn shell_quoting_is_minimal_and_safe() {
        assert_eq!(shell_quote(b"emergency_fix.py"), "emergency_fix.py");
        assert_eq!(shell_quote(b"my fix.py"), "'my fix.py'");
        assert_eq!(shell_quote(b"it's fix.py"), r"'it'\''s fix.py'");
        assert_eq!(shell_quote(b"-fix.py"), "./-fix.py");
        assert_eq!(shell_quote(b"a\nfix.py"), "$'a\\nfix.py'");
        assert_eq!(shell_quote(b"\xff_fix.py"), "$'\\xff_fix.py'");
    }
}

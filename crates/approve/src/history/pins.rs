//! The approval pins (`sha256`, `approved-by`) of registry entries in one policy.toml text:
//! a fast line scanner, with the TOML parser for anything it is not sure about.

use super::{Pin, Pins, normalize};

/// Read the registry pins of one policy.toml text. A line scanner handles the usual layout;
/// anything it is not sure about (multi-line strings, escapes, inline tables) goes through
/// the full TOML parser so the comparison stays one of parsed values, never of text lines.
pub fn pins_of(text: &str) -> Pins {
    fast_pins(text).unwrap_or_else(|| toml_pins(text))
}

pub(super) fn toml_pins(text: &str) -> Pins {
    let mut pins = Pins::new();
    // A version that does not parse registers nothing: an approval cannot come from it.
    let Ok(doc) = text.parse::<toml::Table>() else {
        return pins;
    };
    let scripts = doc
        .get("emergency")
        .and_then(|e| e.get("script"))
        .and_then(|s| s.as_array());
    for t in scripts.into_iter().flatten() {
        let Some(path) = t.get("path").and_then(|v| v.as_str()) else {
            continue;
        };
        let s = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
        pins.insert(
            normalize(path),
            Pin {
                sha256: s("sha256"),
                approved_by: s("approved-by"),
            },
        );
    }
    pins
}

/// A string value on one line, with nothing but a comment after it; `None` when unsure.
pub(super) fn simple_string(v: &str) -> Option<String> {
    let (quote, rest) = match v.as_bytes().first()? {
        b'"' => ('"', &v[1..]),
        b'\'' => ('\'', &v[1..]),
        _ => return None,
    };
    if rest.starts_with(quote) && rest[1..].starts_with(quote) {
        return None; // multi-line string
    }
    let end = rest.find(quote)?;
    let value = &rest[..end];
    if quote == '"' && value.contains('\\') {
        return None;
    }
    let after = rest[end + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    Some(value.to_string())
}

pub(super) fn fast_pins(text: &str) -> Option<Pins> {
    if text.contains("\"\"\"") || text.contains("'''") {
        return None;
    }
    let mut pins = Pins::new();
    let mut current: Option<(Option<String>, Pin)> = None;
    let mut in_emergency = false;
    let flush = |cur: &mut Option<(Option<String>, Pin)>, pins: &mut Pins| {
        if let Some((Some(path), pin)) = cur.take() {
            pins.insert(normalize(&path), pin);
        }
    };
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            flush(&mut current, &mut pins);
            let header = line.split('#').next().unwrap_or("").trim();
            let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
            in_emergency = false;
            if compact == "[[emergency.script]]" {
                current = Some((None, Pin::default()));
            } else if compact == "[emergency]" {
                in_emergency = true;
            } else if compact.contains("emergency") || compact.contains('"') {
                return None;
            }
            continue;
        }
        if line.starts_with("emergency") && current.is_none() && !in_emergency {
            return None; // dotted keys at the top level
        }
        let Some((key, value)) = line.split_once('=') else {
            if current.is_some() {
                return None;
            }
            continue; // a continuation line of a multi-line value elsewhere
        };
        let key = key.trim();
        let value = value.trim();
        if in_emergency && key.starts_with("script") {
            return None;
        }
        let Some((path, pin)) = current.as_mut() else {
            if value.starts_with('[') && !value.contains(']') {
                // A multi-line array elsewhere: its lines could look like headers.
                return None;
            }
            continue;
        };
        match key {
            "path" => *path = Some(simple_string(value)?),
            "sha256" => pin.sha256 = Some(simple_string(value)?),
            "approved-by" => pin.approved_by = Some(simple_string(value)?),
            k if k.starts_with('"') || k.starts_with('\'') || k.contains('.') => return None,
            _ if value.starts_with('[') || value.starts_with('{') => return None,
            _ => {}
        }
    }
    flush(&mut current, &mut pins);
    Some(pins)
}

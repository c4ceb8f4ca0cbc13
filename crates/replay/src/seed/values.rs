//! One generated value per column, type and row: a SQL expression the caller casts to the
//! column's declared type (so domains and enums are checked by the server). `key` picks the
//! value: distinct keys give distinct values (unique columns get the row number, others
//! repeat a few keys so real-looking duplicates exist); `variant` gives other values for a
//! row the server refused (check constraints, collisions with existing rows).

use super::catalog::{Column, literal};

/// The expression for `column` at `key` in `variant`; `None` when the type has no value
/// this generator can make (the column is then left to its default or NULL).
pub(crate) fn value(column: &Column, key: u64, variant: u32, hints: &[String]) -> Option<String> {
    // String literals of the checks that name the column (`status IN ('new', 'paid')`) are
    // values the constraint is known to accept: try them first for text-like columns.
    if !hints.is_empty() && variant.is_multiple_of(2) && is_text(&column.base) {
        let pick = (key as usize + variant as usize / 2) % hints.len();
        return Some(literal(&hints[pick]));
    }
    if let Some(element) = &column.element {
        let inner = scalar(element, &column.base_format, &column.labels, key, variant)?;
        return Some(format!("ARRAY[{inner}]"));
    }
    scalar(
        &column.base,
        &column.base_format,
        &column.labels,
        key,
        variant,
    )
}

fn is_text(base: &str) -> bool {
    matches!(base, "text" | "varchar" | "bpchar" | "name" | "citext")
}

/// A key shifted per variant, so a retry never repeats the refused value.
fn shifted(key: u64, variant: u32) -> u64 {
    key + u64::from(variant) * 1000
}

fn scalar(base: &str, format: &str, labels: &[String], key: u64, variant: u32) -> Option<String> {
    if !labels.is_empty() {
        let pick = (key as usize + variant as usize) % labels.len();
        return Some(literal(&labels[pick]));
    }
    let k = shifted(key, variant);
    Some(match base {
        "int2" | "int4" | "int8" | "oid" => {
            // Positive first (most checks want `> 0`), then zero-based, then negative.
            match variant {
                1 => k.to_string(),
                3 => format!("-{}", k + 1),
                _ => (k + 1).to_string(),
            }
        }
        "numeric" => numeric(format, k),
        "float4" | "float8" | "money" => format!("{}.5", k + 1),
        "bool" => if k.is_multiple_of(2) { "true" } else { "false" }.to_string(),
        "text" | "name" | "citext" => literal(&text(k, variant, None)),
        "varchar" | "bpchar" => literal(&text(k, variant, length(format))),
        "date" => format!("DATE '2024-01-01' + {k}"),
        "timestamp" => format!("TIMESTAMP '2024-01-01 08:00' + interval '{k} hours'"),
        "timestamptz" => format!("TIMESTAMPTZ '2024-01-01 08:00+00' + interval '{k} hours'"),
        "time" => format!("TIME '08:00' + interval '{} minutes'", k % 1000),
        "timetz" => format!("'{:02}:{:02}:00+00'", 8 + (k / 60) % 12, k % 60),
        "interval" => format!("interval '{} minutes'", k + 1),
        "uuid" => literal(&format!("00000000-0000-4000-8000-{k:012}")),
        "json" | "jsonb" => literal(&format!("{{\"seed\": {k}}}")),
        "bytea" => format!("'\\x{:02x}'::bytea", k % 256),
        "inet" => literal(&format!(
            "10.{}.{}.{}",
            (k >> 16) % 256,
            (k >> 8) % 256,
            k % 256
        )),
        "cidr" => literal(&format!("10.{}.{}.0/24", (k >> 8) % 256, k % 256)),
        "macaddr" => literal(&format!(
            "08:00:2b:{:02x}:{:02x}:{:02x}",
            (k >> 16) % 256,
            (k >> 8) % 256,
            k % 256
        )),
        "tsvector" => literal(&format!("seed{k}")),
        "xml" => literal(&format!("<seed>{k}</seed>")),
        "point" => literal(&format!("({k},{k})")),
        "bit" | "varbit" => literal(if k.is_multiple_of(2) { "0" } else { "1" }),
        // Anything else: its text form, judged by the server (a refusal is recorded).
        _ => literal(&(k + 1).to_string()),
    })
}

/// `character varying(20)` -> 20.
fn length(format: &str) -> Option<usize> {
    let inner = format.rsplit_once('(')?.1.strip_suffix(')')?;
    inner.parse().ok()
}

/// Text that fits `max` characters and stays distinct per key as long as the key's digits fit.
fn text(k: u64, variant: u32, max: Option<usize>) -> String {
    let full = match variant {
        1 => format!("user{k}@example.com"),
        3 => format!("SEED{k}"),
        _ => format!("seed {k}"),
    };
    match max {
        Some(n) if full.chars().count() > n => {
            let digits = k.to_string();
            if digits.len() >= n {
                digits[digits.len() - n..].to_string()
            } else {
                format!("{}{digits}", &"s".repeat(n - digits.len()))
            }
        }
        _ => full,
    }
}

/// A value `numeric(p,s)` holds: the key modulo the integer digits, with a fraction when
/// there is a scale.
fn numeric(format: &str, k: u64) -> String {
    let Some(inner) = format
        .strip_prefix("numeric(")
        .and_then(|r| r.strip_suffix(')'))
    else {
        return format!("{}.25", k + 1);
    };
    let (p, s): (u32, u32) = match inner.split_once(',') {
        Some((p, s)) => (
            p.trim().parse().unwrap_or(10),
            s.trim().parse().unwrap_or(0),
        ),
        None => (inner.trim().parse().unwrap_or(10), 0u32),
    };
    let int_digits = p.saturating_sub(s).min(18);
    let whole = if int_digits == 0 {
        0
    } else {
        (k + 1) % 10u64.pow(int_digits)
    };
    if s == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", "5".repeat(s.min(6) as usize))
    }
}

/// The string literals in `checks` that sit next to `column`'s name: values a check on that
/// column is known to accept.
pub(crate) fn hints(column: &str, checks: &[&String]) -> Vec<String> {
    let mut out = Vec::new();
    for check in checks {
        if !mentions(check, column) {
            continue;
        }
        let mut rest = check.as_str();
        while let Some(start) = rest.find('\'') {
            let after = &rest[start + 1..];
            let mut value = String::new();
            let mut chars = after.char_indices().peekable();
            let mut end = after.len();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|(_, n)| *n) == Some('\'') {
                        value.push('\'');
                        chars.next();
                        continue;
                    }
                    end = i + 1;
                    break;
                }
                value.push(c);
            }
            if !out.contains(&value) {
                out.push(value);
            }
            rest = &after[end.min(after.len())..];
        }
    }
    out
}

/// Whether `text` names `column` as a whole word (bare or quoted).
fn mentions(text: &str, column: &str) -> bool {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    text.match_indices(column).any(|(i, m)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + m.len()).copied();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_literals_next_to_the_column_are_hints() {
        let c = "CHECK ((status = ANY (ARRAY['new'::text, 'it''s'::text])))".to_string();
        assert_eq!(hints("status", &[&c]), ["new", "it's"]);
        assert!(hints("stat", &[&c]).is_empty());
    }

    #[test]
    fn text_fits_its_length_and_stays_distinct() {
        assert_eq!(text(7, 0, Some(3)), "ss7");
        assert_ne!(text(12, 0, Some(2)), text(13, 0, Some(2)));
        assert_eq!(length("character varying(20)"), Some(20));
        assert_eq!(numeric("numeric(4,2)", 250), "51.55");
        assert_eq!(numeric("numeric(3,3)", 5), "0.555");
    }
}

//! Just enough of `INSERT INTO target [(columns)] VALUES (…), (…)` to carry it guarded: the
//! target and column list as written, and each row's values as written. Anything else (a
//! `SELECT`, `DEFAULT VALUES`, an alias, text after the last row) is not parsed: the caller
//! leaves it over rather than guess.

/// An INSERT as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Insert {
    /// The target table as written (`users`, `"Ops"."Flags"`).
    pub target: String,
    /// The column list as written, when there is one.
    pub columns: Option<Vec<String>>,
    /// The rows of a `VALUES` list; `None` when the source is not a `VALUES` list.
    pub rows: Option<Vec<Vec<String>>>,
}

/// Parse `sql` (no trailing `;`). `None` when it does not start `INSERT INTO name`.
pub(crate) fn parse(sql: &str) -> Option<Insert> {
    let rest = keyword(sql.trim_start(), "insert")?;
    let rest = keyword(rest, "into")?;
    let (target, rest) = name(rest)?;
    let rest = rest.trim_start();
    let (columns, rest) = if rest.starts_with('(') {
        let (inner, rest) = parenthesised(rest)?;
        let cols = split_top(inner, ',')
            .into_iter()
            .map(|c| c.trim().to_string())
            .collect();
        (Some(cols), rest.trim_start())
    } else {
        (None, rest)
    };
    let Some(mut rest) = keyword(rest, "values") else {
        return Some(Insert {
            target,
            columns,
            rows: None,
        });
    };
    let mut rows = Vec::new();
    loop {
        let (inner, after) = parenthesised(rest.trim_start())?;
        rows.push(
            split_top(inner, ',')
                .into_iter()
                .map(|v| v.trim().to_string())
                .collect(),
        );
        let after = after.trim_start();
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None if after.is_empty() => break,
            // Something after the rows (ON CONFLICT is handled before; anything else is not
            // a plain VALUES list).
            None => {
                return Some(Insert {
                    target,
                    columns,
                    rows: None,
                });
            }
        }
    }
    Some(Insert {
        target,
        columns,
        rows: Some(rows),
    })
}

/// `text` after the keyword `word` (any case) and the whitespace or `(` that ends it.
fn keyword<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let text = text.trim_start();
    let head = text.get(..word.len())?;
    let rest = &text[word.len()..];
    (head.eq_ignore_ascii_case(word) && rest.starts_with(|c: char| c.is_whitespace() || c == '('))
        .then_some(rest)
}

/// A possibly qualified, possibly quoted name, and the text after it.
fn name(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    let mut end = 0;
    let bytes = text.as_bytes();
    loop {
        if bytes.get(end) == Some(&b'"') {
            end += 1;
            loop {
                match bytes.get(end) {
                    None => return None,
                    Some(b'"') if bytes.get(end + 1) == Some(&b'"') => end += 2,
                    Some(b'"') => {
                        end += 1;
                        break;
                    }
                    Some(_) => end += 1,
                }
            }
        } else {
            let start = end;
            while bytes
                .get(end)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$')
            {
                end += 1;
            }
            if end == start {
                return None;
            }
        }
        if bytes.get(end) == Some(&b'.') {
            end += 1;
        } else {
            break;
        }
    }
    Some((text[..end].to_string(), &text[end..]))
}

/// The inside of the parenthesised group `text` starts with, and the text after it.
fn parenthesised(text: &str) -> Option<(&str, &str)> {
    if !text.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some((&text[1..i], &text[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` split at `sep` outside quotes and parentheses. A doubled quote (`'it''s'`) closes
/// and reopens the literal, which splits the same.
pub(crate) fn split_top(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, c) if c == sep && depth == 0 => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    let last = &text[start..];
    if !last.trim().is_empty() || out.is_empty() {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_rows_and_columns_are_read_as_written() {
        let got = parse(
            "INSERT INTO \"Ops\".flags (name, \"On\") VALUES ('a,(b)', true), ('it''s', NULL)",
        )
        .unwrap();
        assert_eq!(got.target, "\"Ops\".flags");
        assert_eq!(got.columns.unwrap(), ["name", "\"On\""]);
        assert_eq!(
            got.rows.unwrap(),
            [vec!["'a,(b)'", "true"], vec!["'it''s'", "NULL"]]
        );
    }

    #[test]
    fn a_select_or_default_values_has_no_rows() {
        assert_eq!(
            parse("insert into t (a) select a from s").unwrap().rows,
            None
        );
        assert_eq!(parse("insert into t default values").unwrap().rows, None);
        assert!(parse("update t set a = 1").is_none());
    }

    #[test]
    fn semicolons_inside_literals_do_not_split() {
        assert_eq!(split_top("a ';' b", ';').len(), 1);
        assert_eq!(split_top("a; b", ';').len(), 2);
        assert_eq!(split_top("a;", ';').len(), 1);
    }
}

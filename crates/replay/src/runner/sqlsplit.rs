//! Splitting a SQL file into statements, for migrations that cannot run in one transaction
//! (`CREATE INDEX CONCURRENTLY` refuses to run inside a multi-statement query string), and
//! turning a PostgreSQL error position into line:column.

/// Byte ranges of the statements in `sql` (without the `;`), skipping empty ones. Knows
/// quotes, quoted identifiers, dollar quotes and both comment styles, so a `;` inside them
/// does not split.
pub fn split(sql: &str) -> Vec<(usize, usize)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let push = |out: &mut Vec<(usize, usize)>, s: usize, e: usize| {
        if !is_blank(&sql[s..e]) {
            out.push((s, e));
        }
    };
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while i < b.len() && depth > 0 {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' => {
                // $tag$ ... $tag$ (tag may be empty); `$1` parameters are not tags.
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j < b.len()
                    && b[j] == b'$'
                    && !b[i + 1..j].first().is_some_and(u8::is_ascii_digit)
                {
                    let tag = &sql[i..=j];
                    match sql[j + 1..].find(tag) {
                        Some(end) => i = j + 1 + end + tag.len(),
                        None => i = b.len(),
                    }
                } else {
                    i += 1;
                }
            }
            b';' => {
                push(&mut out, start, i);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push(&mut out, start, b.len());
    out
}

/// Only whitespace and comments.
fn is_blank(s: &str) -> bool {
    s.lines()
        .map(|l| l.split("--").next().unwrap_or("").trim())
        .all(str::is_empty)
        && !s.contains("/*")
}

/// 1-based line and column of the 1-based character `position` (what PostgreSQL reports)
/// inside `text`.
pub fn line_col(text: &str, position: usize) -> (u32, u32) {
    let mut line = 1u32;
    let mut col = 1u32;
    for (n, ch) in text.chars().enumerate() {
        if n + 1 >= position {
            break;
        }
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// The character count of `text[..byte]`, to turn a statement's byte offset into the
/// character offset PostgreSQL positions are measured in.
pub fn chars_before(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_inside_quotes_comments_and_dollar_bodies_do_not_split() {
        let sql = "CREATE TABLE a (x text default ';');\n-- c; d\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n/* ; */ SELECT \"a;b\" FROM a;\n";
        let parts: Vec<&str> = split(sql).iter().map(|&(s, e)| sql[s..e].trim()).collect();
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[1].contains("$$ SELECT 1; $$"));
        assert!(parts[2].ends_with("FROM a"));
    }

    #[test]
    fn positions_become_line_and_column() {
        let text = "SELECT 1;\nSELEC 2;\n";
        // PostgreSQL reports position 11 for `SELEC` (1-based characters).
        assert_eq!(line_col(text, 11), (2, 1));
        assert_eq!(line_col(text, 1), (1, 1));
    }
}

//! A tolerant reader for the module variables of an Alembic revision file.
//!
//! Not a Python parser: a tokenizer that understands exactly what can hide an assignment
//! (strings of every quote style, comments, brackets, line continuations), so only real
//! column-0 assignments count and a docstring's "Revises:" line never does. Everything else
//! in the file (Python 2 `print` statements, decorators, odd syntax) is skipped over.

mod tokenize;

use tokenize::{Tok, Token, tokenize};

/// A value assigned to one of the module variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `None`
    None,
    /// A string literal (adjacent literals concatenated, as Python does).
    Str(String),
    /// A tuple or list of literals; `None` elements are dropped as Alembic's `to_tuple` does.
    List(Vec<Item>),
    /// Anything else (attribute references, calls, names), kept as the source text.
    Expr(String),
}

/// One element of a tuple or list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Str(String),
    Expr(String),
}

/// One module-level assignment: its value and the 1-based line of the variable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub value: Value,
    pub line: u32,
}

/// The four variables Alembic reads from a revision module (last assignment wins, as in Python).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleVars {
    pub revision: Option<Assignment>,
    pub down_revision: Option<Assignment>,
    pub branch_labels: Option<Assignment>,
    pub depends_on: Option<Assignment>,
    /// Set when a string or bracket was still open at the end of the file.
    pub unterminated: Option<u32>,
}

/// Read the module variables from a file's text.
pub fn read_module_vars(src: &str) -> ModuleVars {
    let (tokens, unterminated) = tokenize(src);
    let mut vars = ModuleVars {
        unterminated,
        ..ModuleVars::default()
    };
    let mut i = 0;
    while i < tokens.len() {
        // Find the end of this logical line.
        let start = i;
        while i < tokens.len() && tokens[i].tok != Tok::Newline {
            i += 1;
        }
        let line_toks = &tokens[start..i];
        i += 1;
        let Some(first) = line_toks.first() else {
            continue;
        };
        let Tok::Name(name) = &first.tok else {
            continue;
        };
        if first.col != 0 {
            continue;
        }
        let slot = match name.as_str() {
            "revision" => &mut vars.revision,
            "down_revision" => &mut vars.down_revision,
            "branch_labels" => &mut vars.branch_labels,
            "depends_on" => &mut vars.depends_on,
            _ => continue,
        };
        let Some(eq) = assignment_eq(line_toks) else {
            continue;
        };
        let value_toks = &line_toks[eq + 1..];
        // `a = b = "x"` chains: the value is after the last top-level `=`.
        let value_toks = match last_top_level_eq(value_toks) {
            Some(j) => &value_toks[j + 1..],
            None => value_toks,
        };
        *slot = Some(Assignment {
            value: parse_value(value_toks, src),
            line: first.line,
        });
    }
    vars
}

/// Index of the `=` that makes `NAME [: annotation] = value` an assignment.
fn assignment_eq(toks: &[Token]) -> Option<usize> {
    match toks.get(1).map(|t| &t.tok) {
        Some(Tok::Op(op)) if op == "=" => Some(1),
        Some(Tok::Op(op)) if op == ":" => {
            let mut depth = 0i32;
            for (j, t) in toks.iter().enumerate().skip(2) {
                if let Tok::Op(op) = &t.tok {
                    match op.as_str() {
                        "(" | "[" | "{" => depth += 1,
                        ")" | "]" | "}" => depth -= 1,
                        "=" if depth == 0 => return Some(j),
                        _ => {}
                    }
                }
            }
            None
        }
        _ => None,
    }
}

fn last_top_level_eq(toks: &[Token]) -> Option<usize> {
    let mut depth = 0i32;
    let mut found = None;
    for (j, t) in toks.iter().enumerate() {
        if let Tok::Op(op) = &t.tok {
            match op.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                "=" if depth == 0 => found = Some(j),
                _ => {}
            }
        }
    }
    found
}

fn expr_text(toks: &[Token], src: &str) -> String {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => src.get(a.start..b.end).unwrap_or("").trim().to_string(),
        _ => String::new(),
    }
}

/// Split on top-level commas.
fn split_commas(toks: &[Token]) -> (Vec<&[Token]>, bool) {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut begin = 0;
    let mut saw_comma = false;
    for (j, t) in toks.iter().enumerate() {
        if let Tok::Op(op) = &t.tok {
            match op.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                "," if depth == 0 => {
                    parts.push(&toks[begin..j]);
                    begin = j + 1;
                    saw_comma = true;
                }
                _ => {}
            }
        }
    }
    parts.push(&toks[begin..]);
    // A trailing comma leaves an empty last part.
    if parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    (parts, saw_comma)
}

/// A single literal: adjacent string literals, or `None`.
fn scalar(toks: &[Token]) -> Option<Value> {
    if toks.is_empty() {
        return None;
    }
    if toks.len() == 1
        && let Tok::Name(n) = &toks[0].tok
        && n == "None"
    {
        return Some(Value::None);
    }
    let mut s = String::new();
    for t in toks {
        match &t.tok {
            Tok::Str(v) => s.push_str(v),
            _ => return None,
        }
    }
    Some(Value::Str(s))
}

fn parse_value(toks: &[Token], src: &str) -> Value {
    let (parts, saw_comma) = split_commas(toks);
    if saw_comma {
        // `down_revision = "a", "b"`: a bare tuple.
        return list_of(&parts, toks, src);
    }
    if let Some(v) = scalar(toks) {
        return v;
    }
    // A bracketed tuple or list covering the whole value.
    if let (Some(first), Some(last)) = (toks.first(), toks.last()) {
        let open_close = matches!((&first.tok, &last.tok), (Tok::Op(a), Tok::Op(b))
            if (a == "(" && b == ")") || (a == "[" && b == "]"));
        if open_close && toks.len() >= 2 && closes_at_end(toks) {
            let inner = &toks[1..toks.len() - 1];
            let (parts, saw_comma) = split_commas(inner);
            let is_paren = matches!(&first.tok, Tok::Op(a) if a == "(");
            if is_paren && !saw_comma && !inner.is_empty() {
                // `("x")` is just a parenthesised string.
                return parse_value(inner, src);
            }
            return list_of(&parts, toks, src);
        }
    }
    Value::Expr(expr_text(toks, src))
}

/// Whether the bracket opened by the first token is closed by the last one.
fn closes_at_end(toks: &[Token]) -> bool {
    let mut depth = 0i32;
    for (j, t) in toks.iter().enumerate() {
        if let Tok::Op(op) = &t.tok {
            match op.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => {
                    depth -= 1;
                    if depth == 0 && j != toks.len() - 1 {
                        return false;
                    }
                }
                _ => {}
            }
        }
    }
    depth == 0
}

fn list_of(parts: &[&[Token]], whole: &[Token], src: &str) -> Value {
    let mut items = Vec::new();
    for p in parts {
        match scalar(p) {
            Some(Value::Str(s)) => items.push(Item::Str(s)),
            Some(Value::None) => {}
            _ => {
                if p.is_empty() {
                    // `(, "a")` is not Python; keep the whole text as an expression.
                    return Value::Expr(expr_text(whole, src));
                }
                items.push(Item::Expr(expr_text(p, src)));
            }
        }
    }
    Value::List(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_string())
    }

    #[test]
    fn alembic_template_with_annotations() {
        let src = r#""""add users

Revision ID: abc123
Revises: zzz999
Create Date: 2024-01-01

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = 'abc123'
down_revision: Union[str, Sequence[str], None] = (
    "p1",  # first parent
    'p2',
)
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    revision = "not-me"
    op.execute("revision = 'nope'")
"#;
        let v = read_module_vars(src);
        assert_eq!(v.revision.as_ref().unwrap().value, s("abc123"));
        assert_eq!(v.revision.as_ref().unwrap().line, 13);
        assert_eq!(
            v.down_revision.as_ref().unwrap().value,
            Value::List(vec![Item::Str("p1".into()), Item::Str("p2".into())])
        );
        assert_eq!(v.down_revision.as_ref().unwrap().line, 14);
        assert_eq!(v.branch_labels.unwrap().value, Value::None);
        assert_eq!(v.unterminated, None);
    }

    #[test]
    fn docstring_revises_is_ignored_and_prefixes_work() {
        let src = "'''\nrevision = 'doc'\ndown_revision = 'doc0'\n'''\nrevision = r\"x1\"\ndown_revision = u'x0'\nbranch_labels = b'lbl',\n";
        let v = read_module_vars(src);
        assert_eq!(v.revision.unwrap().value, s("x1"));
        assert_eq!(v.down_revision.unwrap().value, s("x0"));
        assert_eq!(
            v.branch_labels.unwrap().value,
            Value::List(vec![Item::Str("lbl".into())])
        );
    }

    #[test]
    fn python2_and_symbolic_labels() {
        let src = "print 'hello'\nrevision = \"a\"\ndown_revision = None\nbranch_labels = settings.BRANCH\ndepends_on = ('x', other.REV)\nif True:\n    revision = 'indented'\n";
        let v = read_module_vars(src);
        assert_eq!(v.revision.unwrap().value, s("a"));
        assert_eq!(v.down_revision.unwrap().value, Value::None);
        assert_eq!(
            v.branch_labels.unwrap().value,
            Value::Expr("settings.BRANCH".into())
        );
        assert_eq!(
            v.depends_on.unwrap().value,
            Value::List(vec![Item::Str("x".into()), Item::Expr("other.REV".into())])
        );
    }

    #[test]
    fn comparison_is_not_assignment_and_unterminated_is_flagged() {
        let v = read_module_vars("revision == 'a'\n");
        assert_eq!(v.revision, None);
        let v = read_module_vars("revision = 'a\ndown_revision = None\n");
        assert!(v.unterminated.is_some());
        let v = read_module_vars("revision = ('a'\n");
        assert_eq!(v.unterminated, Some(1));
    }

    #[test]
    fn empty_tuple_and_bare_tuple() {
        let v = read_module_vars("revision = 'm'\ndown_revision = 'a', 'b'\ndepends_on = ()\n");
        assert_eq!(
            v.down_revision.unwrap().value,
            Value::List(vec![Item::Str("a".into()), Item::Str("b".into())])
        );
        assert_eq!(v.depends_on.unwrap().value, Value::List(vec![]));
    }
}

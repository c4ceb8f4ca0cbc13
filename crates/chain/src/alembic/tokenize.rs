//! The tokenizer under [`super::read_module_vars`]: strings of every quote style, comments,
//! brackets and line continuations, which are exactly what can hide an assignment. Anything
//! it does not recognise becomes an `Other` token, so no input makes it fail.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Name(String),
    Str(String),
    /// Operators and punctuation, one or two characters (`==` is kept whole so it is never
    /// mistaken for an assignment).
    Op(String),
    Other(String),
    /// End of a logical line (newline outside brackets, not continued by a backslash).
    Newline,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) line: u32,
    /// Byte offset from the start of the physical line.
    pub(super) col: usize,
    /// Source byte range, for recording non-literal expressions verbatim.
    pub(super) start: usize,
    pub(super) end: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Tokenize Python-ish source. Returns the tokens and, if a string or bracket is still open
/// at the end, the line where it opened.
pub(super) fn tokenize(src: &str) -> (Vec<Token>, Option<u32>) {
    let mut lexer = Lexer {
        src,
        bytes: src.as_bytes(),
        toks: Vec::new(),
        i: 0,
        line: 1,
        line_start: 0,
        depth: 0,
        depth_open_line: 0,
        unterminated: None,
    };
    while lexer.i < lexer.bytes.len() {
        lexer.step();
    }
    lexer.finish()
}

/// The tokenizer's position and what it has seen so far.
struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    toks: Vec<Token>,
    /// Byte offset of the next character.
    i: usize,
    line: u32,
    line_start: usize,
    /// Open brackets: a newline inside them does not end the logical line.
    depth: i32,
    depth_open_line: u32,
    unterminated: Option<u32>,
}

/// Where a token starts: its line, its column and its byte offset.
#[derive(Clone, Copy)]
struct At {
    line: u32,
    col: usize,
    start: usize,
}

impl Lexer<'_> {
    /// Consume one piece of the source: a newline, a continuation, blanks, a comment or a token.
    fn step(&mut self) {
        let bytes = self.bytes;
        let i = self.i;
        match bytes[i] {
            b'\n' => {
                if self.depth == 0 && self.toks.last().is_some_and(|t| t.tok != Tok::Newline) {
                    self.toks.push(Token {
                        tok: Tok::Newline,
                        line: self.line,
                        col: i - self.line_start,
                        start: i,
                        end: i,
                    });
                }
                self.next_line(i + 1);
            }
            // Explicit line continuation: the logical line goes on.
            b'\\' if bytes.get(i + 1) == Some(&b'\n') => self.next_line(i + 2),
            b'\\' if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') => {
                self.next_line(i + 3);
            }
            b' ' | b'\t' | b'\r' | b'\x0c' => self.i += 1,
            b'#' => {
                while self.i < bytes.len() && bytes[self.i] != b'\n' {
                    self.i += 1;
                }
            }
            _ => self.token(),
        }
    }

    fn next_line(&mut self, start: usize) {
        self.i = start;
        self.line += 1;
        self.line_start = start;
    }

    /// One token at `self.i`: a string, a name, an operator, or one other character.
    fn token(&mut self) {
        let at = At {
            line: self.line,
            col: self.i - self.line_start,
            start: self.i,
        };
        if self.string(at) || self.name(at) || self.operator(at) {
            return;
        }
        // Numbers and anything else: one char (or one UTF-8 scalar) at a time.
        let i = self.i;
        let ch = self.src[i..].chars().next().unwrap_or('\u{fffd}');
        let len = ch.len_utf8().max(1);
        self.push(Tok::Other(self.src[i..i + len].to_string()), at, i + len);
    }

    fn push(&mut self, tok: Tok, at: At, end: usize) {
        self.toks.push(Token {
            tok,
            line: at.line,
            col: at.col,
            start: at.start,
            end,
        });
        self.i = end;
    }

    /// A string prefix (r, u, b, f and combinations) directly followed by a quote. An
    /// unterminated string ends the tokenizing: the rest of the file is inside it.
    fn string(&mut self, at: At) -> bool {
        let (bytes, i) = (self.bytes, self.i);
        let mut j = i;
        while j < bytes.len()
            && j - i < 2
            && matches!(
                bytes[j],
                b'r' | b'R' | b'u' | b'U' | b'b' | b'B' | b'f' | b'F'
            )
        {
            j += 1;
        }
        if !(j < bytes.len() && (bytes[j] == b'\'' || bytes[j] == b'"')) {
            return false;
        }
        let raw = bytes[i..j].iter().any(|b| matches!(b, b'r' | b'R'));
        match read_string(bytes, j, raw, &mut self.line, &mut self.line_start) {
            Some((value, end)) => self.push(Tok::Str(value), at, end),
            None => {
                self.unterminated.get_or_insert(at.line);
                self.i = bytes.len();
            }
        }
        true
    }

    /// Identifiers (Unicode letters allowed, as in Python 3).
    fn name(&mut self, at: At) -> bool {
        let i = self.i;
        let ch = self.src[i..].chars().next().unwrap_or('\u{fffd}');
        if !is_ident_start(ch) {
            return false;
        }
        let mut k = i;
        for c in self.src[i..].chars() {
            if is_ident_continue(c) {
                k += c.len_utf8();
            } else {
                break;
            }
        }
        self.push(Tok::Name(self.src[i..k].to_string()), at, k);
        true
    }

    /// Two-character operators first (`==` must never read as `=`), then single punctuation,
    /// which also tracks bracket depth.
    fn operator(&mut self, at: At) -> bool {
        let i = self.i;
        let op: Option<&str> = match self.bytes.get(i..i + 2) {
            Some(b"==") => Some("=="),
            Some(b"!=") => Some("!="),
            Some(b"<=") => Some("<="),
            Some(b">=") => Some(">="),
            Some(b":=") => Some(":="),
            Some(b"->") => Some("->"),
            _ => None,
        };
        if let Some(op) = op {
            self.push(Tok::Op(op.to_string()), at, i + 2);
            return true;
        }
        let c = self.bytes[i];
        if !c.is_ascii_punctuation() {
            return false;
        }
        match c {
            b'(' | b'[' | b'{' => {
                if self.depth == 0 {
                    self.depth_open_line = at.line;
                }
                self.depth += 1;
            }
            // An unbalanced closer must not make every later line look bracketed.
            b')' | b']' | b'}' => self.depth = (self.depth - 1).max(0),
            _ => {}
        }
        self.push(Tok::Op((c as char).to_string()), at, i + 1);
        true
    }

    fn finish(mut self) -> (Vec<Token>, Option<u32>) {
        if self.depth > 0 {
            self.unterminated.get_or_insert(self.depth_open_line);
        }
        let end = self.bytes.len();
        self.toks.push(Token {
            tok: Tok::Newline,
            line: self.line,
            col: 0,
            start: end,
            end,
        });
        (self.toks, self.unterminated)
    }
}

/// Read a string literal whose opening quote is at `q`. Returns the value and the byte
/// offset after the closing quote, or None when the file ends first.
fn read_string(
    bytes: &[u8],
    q: usize,
    raw: bool,
    line: &mut u32,
    line_start: &mut usize,
) -> Option<(String, usize)> {
    let quote = bytes[q];
    let triple = bytes.get(q + 1) == Some(&quote) && bytes.get(q + 2) == Some(&quote);
    let mut i = if triple { q + 3 } else { q + 1 };
    let mut out: Vec<u8> = Vec::new();
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && i + 1 < bytes.len() {
            let n = bytes[i + 1];
            if n == b'\n' {
                *line += 1;
                *line_start = i + 2;
            }
            if raw {
                out.push(c);
                out.push(n);
            } else {
                match n {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'0' => out.push(0),
                    b'\n' => {}
                    b'\\' | b'\'' | b'"' => out.push(n),
                    _ => {
                        out.push(c);
                        out.push(n);
                    }
                }
            }
            i += 2;
            continue;
        }
        if c == quote {
            if !triple {
                return Some((String::from_utf8_lossy(&out).into_owned(), i + 1));
            }
            if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                return Some((String::from_utf8_lossy(&out).into_owned(), i + 3));
            }
        }
        if c == b'\n' {
            if !triple {
                // A single-quoted string cannot span lines: the literal is broken.
                return None;
            }
            *line += 1;
            *line_start = i + 1;
        }
        out.push(c);
        i += 1;
    }
    None
}

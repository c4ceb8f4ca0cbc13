//! Is a file an emergency script? The decision behind G001 and `gate-approve baseline`, for
//! whatever lists the files (the staged index, the working tree): each lister turns what it
//! sees into a [`Candidate`] and [`classify`] decides. Wording findings is the gates' job.

use gate_policy::{Policy, Script};

use crate::ddl;

/// Content bigger than this is judged by name only: emergency scripts are small, and a hook
/// must not stall on a stray data dump.
pub const MAX_TEXT_BYTES: u64 = 1024 * 1024;
/// A NUL byte within this prefix marks binary content (git's own heuristic), judged by name.
const BINARY_SNIFF: usize = 8 * 1024;

/// What kind of thing sits at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    /// Judged by its name; its target is hashed as text (that is what git stores) but never
    /// followed.
    Symlink,
    /// FIFOs, sockets, devices (working tree only): never opened, since opening a FIFO
    /// blocks; judged by name.
    Special,
}

/// One file a scan wants judged.
#[derive(Debug)]
pub struct Candidate {
    /// Raw path bytes, repository-relative with `/`.
    pub raw: Vec<u8>,
    /// `raw` as UTF-8 (lossy), for policy matching.
    pub rel: String,
    pub kind: Kind,
    /// Size in bytes, when known without reading.
    pub size: u64,
    /// Whether it lies in an `emergency.scope` folder (registered files outside scope are
    /// still checked for G002).
    pub in_scope: bool,
}

/// Whether a file is of a type that can be an emergency script at all.
#[derive(Debug)]
pub enum ScriptType {
    /// Reports, notes, data: never a script, whatever its name or text.
    Not,
    /// Its extension is in `emergency.extensions`.
    Extension,
    /// No extension, and a `#!` line naming an interpreter of one of `emergency.extensions`
    /// (`python3` for `py`, `bash` for `bash` or `sh`, ...). The content is returned, so it
    /// is read once.
    Shebang(Vec<u8>),
}

/// The `emergency.extensions` rule. Only extensionless regular files are read, and only up
/// to [`MAX_TEXT_BYTES`]: a script that size is no hand fix.
pub fn script_type<E>(
    policy: &Policy,
    c: &Candidate,
    load: &mut dyn FnMut() -> Result<Vec<u8>, E>,
) -> Result<ScriptType, E> {
    if policy.emergency.has_script_extension(&c.rel) {
        return Ok(ScriptType::Extension);
    }
    let name = c.rel.rsplit('/').next().unwrap_or(&c.rel);
    if has_extension(name) || c.kind != Kind::File || c.size > MAX_TEXT_BYTES {
        return Ok(ScriptType::Not);
    }
    let text = load()?;
    let declared = shebang_interpreter(&text).is_some_and(|i| {
        interpreter_extensions(&i)
            .iter()
            .any(|e| policy.emergency.extensions.iter().any(|x| x == e))
    });
    Ok(if declared {
        ScriptType::Shebang(text)
    } else {
        ScriptType::Not
    })
}

/// The interpreter a `#!` line names, without path and version: `python` for
/// `#!/usr/bin/env -S python3.11 -u`, `bash` for `#!/bin/bash -e`.
fn shebang_interpreter(text: &[u8]) -> Option<String> {
    let rest = text.strip_prefix(b"#!")?;
    let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let mut program = words.next()?.rsplit('/').next()?.to_string();
    if program == "env" {
        // `env -S prog`, `env VAR=x prog`: the first word that is neither.
        program = words
            .find(|w| !w.starts_with('-') && !w.contains('='))?
            .rsplit('/')
            .next()?
            .to_string();
    }
    let name = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(name.to_ascii_lowercase())
}

/// The file types (as in `emergency.extensions`) an interpreter runs; an interpreter not
/// known here stands for its own name (`php` for `#!/usr/bin/php`).
fn interpreter_extensions(interpreter: &str) -> Vec<&str> {
    match interpreter {
        "python" | "pypy" => vec!["py"],
        "sh" | "dash" | "ash" | "ksh" | "zsh" => vec!["sh"],
        "bash" => vec!["bash", "sh"],
        "node" | "nodejs" => vec!["js"],
        "deno" | "bun" => vec!["ts", "js"],
        "ts-node" | "tsx" => vec!["ts"],
        "ruby" => vec!["rb"],
        "perl" => vec!["pl"],
        "psql" => vec!["sql"],
        other => vec![other],
    }
}

/// What [`classify`] decided about one file.
#[derive(Debug)]
pub enum Verdict<'p> {
    /// In `[[emergency.script]]`: the gates check its content against the entry (G002).
    Registered(&'p Script),
    /// An unregistered emergency script in scope (G001).
    Emergency(Reason),
    /// Nothing to say: out of scope, ignored by type, or neither named nor running DDL.
    Clean,
}

/// Why an unregistered file is an emergency script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Its file name matches this `emergency.names` pattern.
    Name(String),
    /// With `emergency.ddl = true`: it runs DDL; the 1-based line of the first statement.
    Ddl { line: u32 },
}

/// Decide one candidate. `load` reads its content (a staged blob or the working copy); it
/// is called at most once, and only when the verdict needs the content. Names are tried
/// before content, so most files are decided without reading them.
pub fn classify<'p, E>(
    policy: &'p Policy,
    c: &Candidate,
    load: &mut dyn FnMut() -> Result<Vec<u8>, E>,
) -> Result<Verdict<'p>, E> {
    if let Some(script) = policy.emergency.script(&c.rel) {
        return Ok(Verdict::Registered(script));
    }
    if !c.in_scope {
        return Ok(Verdict::Clean);
    }
    let name = c.rel.rsplit('/').next().unwrap_or(&c.rel);
    let by_name = policy.emergency.names.iter().find(|r| r.is_match(name));
    if by_name.is_none() && !policy.emergency.ddl {
        return Ok(Verdict::Clean);
    }
    let content = match script_type(policy, c, load)? {
        ScriptType::Not => return Ok(Verdict::Clean),
        ScriptType::Extension => None,
        ScriptType::Shebang(text) => Some(text),
    };
    if let Some(re) = by_name {
        return Ok(Verdict::Emergency(Reason::Name(re.as_str().to_string())));
    }
    if c.kind != Kind::File || c.size > MAX_TEXT_BYTES {
        return Ok(Verdict::Clean);
    }
    let content = match content {
        Some(text) => text,
        None => load()?,
    };
    if is_binary(&content) {
        return Ok(Verdict::Clean);
    }
    Ok(match ddl::first_ddl_line(&content) {
        Some(line) => Verdict::Emergency(Reason::Ddl { line }),
        None => Verdict::Clean,
    })
}

/// Whether a file name has an extension, the way `Emergency::has_script_extension` reads
/// one: a dot file such as `.envrc` has none.
fn has_extension(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(stem, _)| !stem.is_empty())
}

/// Whether content is binary (git's heuristic: a NUL byte in the first 8 KiB).
pub fn is_binary(content: &[u8]) -> bool {
    content[..content.len().min(BINARY_SNIFF)].contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_name_their_interpreter_and_its_file_types() {
        let i = |t: &str| shebang_interpreter(t.as_bytes());
        assert_eq!(
            i("#!/usr/bin/env python3\nprint(1)").as_deref(),
            Some("python")
        );
        assert_eq!(
            i("#!/usr/bin/env -S python3.11 -u\n").as_deref(),
            Some("python")
        );
        assert_eq!(
            i("#!/usr/bin/env PYTHONPATH=. python\n").as_deref(),
            Some("python")
        );
        assert_eq!(i("#! /bin/bash -e\n").as_deref(), Some("bash"));
        assert_eq!(i("#!/usr/bin/php").as_deref(), Some("php"));
        assert_eq!(i("#!\n"), None);
        assert_eq!(i("print(1)\n"), None);
        assert_eq!(interpreter_extensions("bash"), ["bash", "sh"]);
        assert_eq!(interpreter_extensions("python"), ["py"]);
        assert_eq!(interpreter_extensions("php"), ["php"]);
    }

    #[test]
    fn extensions_are_read_like_the_policy_reads_them() {
        assert!(has_extension("README.md"));
        assert!(has_extension("fix.tar.gz"));
        assert!(!has_extension("fix_admin"));
        assert!(!has_extension(".envrc"));
    }

    #[test]
    fn binary_means_nul_in_the_first_8_kib() {
        assert!(is_binary(b"abc\0def"));
        assert!(!is_binary(b"ALTER TABLE t"));
        let mut late = vec![b'a'; 9000];
        late.push(0);
        assert!(!is_binary(&late));
    }
}

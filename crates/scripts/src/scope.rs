//! Byte-level path predicates built once per run: the staged scan asks them for every index
//! entry (100,000 in a large repository), so they must not allocate.

use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use gate_policy::Policy;

#[derive(Debug)]
pub struct Paths {
    /// (`"dir/"` or `""` for the root, recursive)
    scopes: Vec<(Vec<u8>, bool)>,
    /// `"alembic/versions/"`
    pub migrations_prefix: Vec<u8>,
    pub lockfile: Vec<u8>,
    /// Files the gates themselves own (the policy, the expected schema snapshot): they
    /// describe DDL in comments and data, they never run it.
    gate_files: Vec<Vec<u8>>,
}

impl Paths {
    pub fn new(policy: &Policy, root: &Path) -> Self {
        let scopes = policy
            .emergency
            .scope
            .iter()
            .map(|s| {
                let dir = s.dir.trim_matches('/');
                let prefix = if dir.is_empty() {
                    Vec::new()
                } else {
                    format!("{dir}/").into_bytes()
                };
                (prefix, s.recursive)
            })
            .collect();
        let m = policy
            .migrations
            .path
            .trim_start_matches("./")
            .trim_matches('/');
        let mut gate_files = vec![
            policy
                .replay
                .snapshot
                .trim_start_matches("./")
                .as_bytes()
                .to_vec(),
        ];
        let policy_file = policy
            .file
            .canonicalize()
            .unwrap_or_else(|_| policy.file.clone());
        if let Ok(rel) = policy_file.strip_prefix(root) {
            gate_files.push(rel.as_os_str().as_bytes().to_vec());
        }
        Paths {
            scopes,
            gate_files,
            migrations_prefix: format!("{m}/").into_bytes(),
            lockfile: policy
                .migrations
                .lockfile
                .trim_start_matches("./")
                .as_bytes()
                .to_vec(),
        }
    }

    /// Whether a repository-relative file path lies in an `emergency.scope` folder.
    pub fn in_scope(&self, path: &[u8]) -> bool {
        self.scopes.iter().any(|(prefix, recursive)| {
            path.starts_with(prefix) && (*recursive || !path[prefix.len()..].contains(&b'/'))
        })
    }

    pub fn in_migrations(&self, path: &[u8]) -> bool {
        path.starts_with(&self.migrations_prefix)
    }

    /// Whether `path` is the policy file or the expected snapshot (never emergency scripts).
    pub fn is_gate_file(&self, path: &[u8]) -> bool {
        self.gate_files.iter().any(|g| g == path)
    }
}

#[cfg(test)]
mod tests {
    use gate_policy::parse_scope;

    #[test]
    fn scope_prefixes_match_the_policy_model() {
        for (scope, path) in [
            (".", "fix.py"),
            (".", "a/fix.py"),
            ("scripts", "scripts/fix.py"),
            ("scripts", "scripts/a/fix.py"),
            ("scripts/**", "scripts/a/fix.py"),
            ("scripts/**", "scriptsx/fix.py"),
            ("**", "a/b/c.py"),
        ] {
            let s = parse_scope(scope);
            let dir = if s.dir.is_empty() {
                Vec::new()
            } else {
                format!("{}/", s.dir).into_bytes()
            };
            let p = super::Paths {
                scopes: vec![(dir, s.recursive)],
                migrations_prefix: b"m/".to_vec(),
                lockfile: b"migrations.lock".to_vec(),
                gate_files: Vec::new(),
            };
            assert_eq!(
                p.in_scope(path.as_bytes()),
                s.contains(path),
                "{scope} vs {path}"
            );
        }
    }
}

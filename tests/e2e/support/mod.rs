//! The one support module of the end-to-end tests (`tests/e2e/`): real git repositories,
//! the built gate binaries run with one environment scrub, the test PostgreSQL server, Alembic
//! and docker. Nothing is mocked; a missing database or docker image fails a test, never
//! skips it. Helpers only one suite needs live in that suite's submodule.
#![allow(dead_code)]

pub mod alembic;
pub mod approve;
pub mod backend;
pub mod consumers;
pub mod db;
pub mod docker;
pub mod precommit;
pub mod real_repo;
pub mod replay;
pub mod repo;
pub mod run;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The repository root of Migration Gate.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Lower-case hex SHA-256, the form policy.toml and migrations.lock record.
pub fn sha256_hex(content: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(content.as_ref()))
}

/// Write `text` at `dir/rel`, creating folders.
pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

/// Append `text` to the file at `dir/rel`.
pub fn append(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    let mut s = std::fs::read_to_string(&p).expect("read");
    s.push_str(text);
    std::fs::write(p, s).expect("write");
}

/// Copy a folder tree (without `__pycache__`).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|e| e.file_name() != "__pycache__")
    {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("under root");
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#![no_main]
//! `policy.toml` loading must turn any text into a policy or diagnostics, never a panic.

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gate_policy::parse(text, Path::new("policy.toml"), Path::new("/repo"));
    }
});

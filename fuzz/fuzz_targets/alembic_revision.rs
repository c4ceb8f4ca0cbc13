#![no_main]
//! The Alembic revision reader must never panic, whatever bytes a versions folder holds,
//! and what it reads must be self-consistent.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(rev)) = gate_chain::parse_alembic_file("versions/x.py", data) {
        assert!(!rev.id.trim().is_empty());
        assert!(rev.line >= 1);
    }
    // The raw variable reader on lossily decoded text, as discovery uses it.
    let text = String::from_utf8_lossy(data);
    let _ = gate_chain::alembic::read_module_vars(&text);
});

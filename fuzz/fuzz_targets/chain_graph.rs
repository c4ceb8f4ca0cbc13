#![no_main]
//! Whole-chain robustness: arbitrary bytes split into several revision files go through
//! discovery, every check, the order and a lockfile round trip without a panic or a hang.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

static POLICY: LazyLock<gate_policy::Policy> = LazyLock::new(|| {
    gate_policy::parse(
        "version = 1\n\n[migrations]\nkind = \"alembic\"\npath = \"v\"\n",
        Path::new("policy.toml"),
        Path::new("/repo"),
    )
    .expect("fuzz policy")
});

fuzz_target!(|data: &[u8]| {
    // Files are separated by 0xFF, which never occurs in UTF-8 text.
    let mut files = BTreeMap::new();
    for (i, part) in data.split(|&b| b == 0xff).take(64).enumerate() {
        files.insert(format!("v/{i:02}.py"), part.to_vec());
    }
    let g = gate_chain::discover_from(&files, &POLICY);
    let _ = gate_chain::check(&g, &POLICY);
    let order = g.order();
    assert!(order.len() <= g.len());
    let lock = gate_chain::render_lock(&g, &files);
    let again = gate_chain::lock_findings(&POLICY, Some(lock.as_bytes()), &files)
        .expect("a freshly written lockfile verifies");
    assert!(again.iter().all(|f| f.code != "G003"), "{again:?}");
});

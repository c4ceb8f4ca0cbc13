//! schema/policy.schema.json stays true to the validator: the same keys in every table, and
//! every example policy in the repository validates against it (with Python's `jsonschema`,
//! a validator this code did not write).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("schema/policy.schema.json")).unwrap();
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// The key lists the validator rejects unknown keys with (`*_KEYS` in
/// crates/policy/src/validate*.rs), read from the source so a key added there without the
/// schema (or the other way round) fails here.
fn validator_keys() -> BTreeMap<&'static str, BTreeSet<String>> {
    let lists = [
        ("", "crates/policy/src/validate.rs", "TOP_KEYS"),
        (
            "migrations",
            "crates/policy/src/validate/migrations.rs",
            "MIGRATIONS_KEYS",
        ),
        (
            "emergency",
            "crates/policy/src/validate/emergency.rs",
            "EMERGENCY_KEYS",
        ),
        (
            "governance",
            "crates/policy/src/validate/governance.rs",
            "GOVERNANCE_KEYS",
        ),
        (
            "replay",
            "crates/policy/src/validate/replay.rs",
            "REPLAY_KEYS",
        ),
        (
            "emergency.script",
            "crates/policy/src/validate/scripts.rs",
            "SCRIPT_KEYS",
        ),
    ];
    let mut out = BTreeMap::new();
    let quoted = regex::Regex::new(r#""([^"]+)""#).unwrap();
    for (table, file, name) in lists {
        let src = std::fs::read_to_string(root().join(file)).unwrap();
        let list = regex::Regex::new(&format!(r"(?s)const {name}: &\[&str\] =\s*&\[(.*?)\];"))
            .unwrap()
            .captures(&src)
            .unwrap_or_else(|| panic!("{name} not found in {file}"))[1]
            .to_string();
        let keys: BTreeSet<String> = quoted
            .captures_iter(&list)
            .map(|c| c[1].to_string())
            .collect();
        assert!(!keys.is_empty(), "{name} in {file} is empty");
        out.insert(table, keys);
    }
    out
}

fn schema_keys(schema: &serde_json::Value) -> BTreeMap<&'static str, BTreeSet<String>> {
    let props = |v: &serde_json::Value| -> BTreeSet<String> {
        v["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect()
    };
    let mut out = BTreeMap::new();
    out.insert("", props(schema));
    for table in ["migrations", "emergency", "governance", "replay"] {
        out.insert(table, props(&schema["properties"][table]));
    }
    assert_eq!(
        schema["properties"]["emergency"]["properties"]["script"]["items"]["$ref"],
        "#/$defs/script"
    );
    out.insert("emergency.script", props(&schema["$defs"]["script"]));
    out
}

#[test]
fn the_schema_has_exactly_the_keys_the_validator_accepts() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema_keys(&schema), validator_keys());
    // Unknown keys are errors in the validator; the schema says so too, in every table.
    assert_eq!(schema["additionalProperties"], false);
    for table in ["migrations", "emergency", "governance", "replay"] {
        assert_eq!(
            schema["properties"][table]["additionalProperties"], false,
            "{table}"
        );
    }
    assert_eq!(schema["$defs"]["script"]["additionalProperties"], false);
}

/// Validate TOML files against the schema with Python's jsonschema (TOML dates become
/// ISO strings, as editors' TOML-to-JSON mapping does). Returns each file's errors.
fn python_validate(files: &[PathBuf]) -> Vec<(String, Vec<String>)> {
    let script = r#"
import sys, json, tomllib, datetime, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
def plain(v):
    if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list): return [plain(x) for x in v]
    if isinstance(v, (datetime.date, datetime.datetime)): return v.isoformat()
    return v
out = []
for f in sys.argv[2:]:
    doc = plain(tomllib.load(open(f, "rb")))
    out.append([f, sorted(e.message for e in validator.iter_errors(doc))])
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(root().join("schema/policy.schema.json"))
        .args(files)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 with jsonschema failed (pip install jsonschema):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn example_policies() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("policy.toml"),
        root().join("examples/crisis/policy.toml"),
    ];
    let valid = root().join("crates/policy/tests/fixtures/valid");
    for entry in std::fs::read_dir(&valid).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_example_policy_validates_against_the_schema() {
    let files = example_policies();
    // They are valid for the gates too: the schema is checked against policies that load.
    for f in &files {
        gate_policy::load(f, f.parent().unwrap_or(Path::new("."))).unwrap_or_else(|e| {
            panic!("{} does not load: {e}", f.display());
        });
    }
    let results = python_validate(&files);
    assert_eq!(results.len(), files.len());
    for (file, errors) in results {
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
}

#[test]
fn the_schema_rejects_what_the_validator_rejects() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("misspelt.toml", "version = 1\n[replay]\ntimeout = 5\n"),
        ("no_version.toml", "[migrations]\nkind = \"alembic\"\n"),
        (
            "bad_enum.toml",
            "version = 1\n[replay]\nbackend = \"podman\"\n",
        ),
        (
            "bad_type.toml",
            "version = 1\n[governance]\nfour-eyes = \"yes\"\n",
        ),
        (
            "bad_script.toml",
            "version = 1\n[[emergency.script]]\npath = \"fix.py\"\nstatus = \"done\"\n",
        ),
        (
            "zero_timeout.toml",
            "version = 1\n[replay]\ntimeout-s = 0\n",
        ),
    ];
    let mut files = Vec::new();
    for (name, text) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        // The gates refuse each of them...
        assert!(
            gate_policy::load(&path, tmp.path()).is_err(),
            "{name} should not load"
        );
        files.push(path);
    }
    // ...and so does an editor with the schema.
    for (file, errors) in python_validate(&files) {
        assert!(!errors.is_empty(), "{file} passes the schema");
    }
}

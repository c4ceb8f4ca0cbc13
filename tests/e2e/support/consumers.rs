//! The consumers of the machine formats, run for real: the SARIF 2.1.0 JSON schema through
//! Python's `jsonschema`, the Jenkins and Ant JUnit schemas through `xmllint --schema`, and
//! GitHub's Markdown through `cmark-gfm` (schemas in tests/schemas/). A missing validator
//! fails with the package to install (ci/setup.sh installs them); nothing is skipped.

use std::io::Write as _;
use std::process::{Command, Stdio};

use super::workspace_root;

fn piped(program: &str, args: &[&str], input: &str, hint: &str) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed ({hint}): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Panics with the schema violations unless `doc` is a valid SARIF 2.1.0 log.
pub fn assert_valid_sarif(doc: &str) {
    let script = "import json, sys, jsonschema\n\
                  v = jsonschema.Draft4Validator(json.load(open(sys.argv[1])))\n\
                  errs = [f'{list(e.absolute_path)}: {e.message}' for e in v.iter_errors(json.load(sys.stdin))]\n\
                  print('\\n'.join(errs)); sys.exit(1 if errs else 0)";
    let schema = workspace_root().join("tests/schemas/sarif-schema-2.1.0.json");
    let (ok, out, err) = piped(
        "python3",
        &["-c", script, schema.to_str().unwrap()],
        doc,
        "python3 with jsonschema: pip install -r ci/requirements.txt",
    );
    assert!(ok, "not valid SARIF 2.1.0:\n{out}{err}\n{doc}");
}

/// Panics unless `xml` is valid against both the Jenkins junit-10 and the Ant JUnit schema.
pub fn assert_valid_junit(xml: &str) {
    for xsd in ["junit-10.xsd", "ant-junit.xsd"] {
        let xsd = workspace_root().join("tests/schemas").join(xsd);
        let (ok, _, err) = piped(
            "xmllint",
            &["--noout", "--schema", xsd.to_str().unwrap(), "-"],
            xml,
            "Debian package libxml2-utils",
        );
        assert!(ok, "not valid against {}:\n{err}\n{xml}", xsd.display());
    }
}

/// `markdown` rendered as GitHub does: cmark-gfm with the GFM extensions, raw HTML kept (the
/// tags GitHub's sanitizer allows would stay; an injected one would show here).
pub fn gfm(markdown: &str) -> String {
    let args = [
        "--unsafe",
        "-e",
        "table",
        "-e",
        "autolink",
        "-e",
        "strikethrough",
        "-e",
        "tagfilter",
    ];
    let (ok, html, err) = piped("cmark-gfm", &args, markdown, "Debian package cmark-gfm");
    assert!(ok, "cmark-gfm failed: {err}");
    html
}

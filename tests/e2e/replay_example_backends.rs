//! The crisis example replays its 13 migrations on the `local` backend (an ephemeral cluster
//! from the server binaries) and the `docker` backend (image migration-gate/postgres:15, built
//! offline by ci/postgres-image.sh), and what each started is gone afterwards. These tests
//! fail, never skip, when the binaries, Docker or the image are missing.

use std::process::Command;

use crate::support::alembic::*;
use crate::support::replay::*;
use crate::support::run::*;

fn assert_replays_13(run: &Run) -> String {
    assert_eq!(run.code, 0, "{}", run.all());
    let data = &run.json()["sections"][0]["data"];
    assert_eq!(data["applied"], 13, "{data}");
    assert_eq!(data["head"][0], CRISIS_HEAD);
    data["backend"].as_str().unwrap().to_string()
}

#[test]
fn the_example_replays_on_the_local_backend_and_removes_the_cluster() {
    let repo = crisis();
    let run = replay(repo.path(), &["--backend", "local", "--format", "json"]);
    let backend = assert_replays_13(&run);
    assert!(backend.starts_with("local PostgreSQL"), "{backend}");
    // "local PostgreSQL 15.18 (/tmp/migration-gate-pg-XXXX)": the folder is removed.
    let folder = backend
        .rsplit_once('(')
        .and_then(|(_, f)| f.strip_suffix(')'))
        .expect("cluster folder in the backend description");
    assert!(
        !std::path::Path::new(folder).exists(),
        "cluster folder {folder} left behind"
    );
}

#[test]
fn the_example_replays_on_the_docker_backend_and_removes_the_container() {
    let image = "migration-gate/postgres:15";
    let present = Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .expect("docker CLI is required for the docker backend tests");
    assert!(
        present.status.success(),
        "image {image} is missing: build it with ci/postgres-image.sh"
    );
    let repo = crisis();
    let run = replay(
        repo.path(),
        &["--backend", "docker", "--image", image, "--format", "json"],
    );
    let backend = assert_replays_13(&run);
    assert!(backend.starts_with(&format!("docker {image}")), "{backend}");
    let id = backend
        .rsplit_once("container ")
        .and_then(|(_, f)| f.strip_suffix(')'))
        .expect("container id in the backend description");
    let left = Command::new("docker")
        .args(["ps", "-aq", "--no-trunc"])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(
        !left.lines().any(|l| l.starts_with(id)),
        "container {id} left behind"
    );
}

//! Docker for the docker backend tests: the offline image must be there; these tests fail,
//! never skip, without it.

use std::process::Command;

/// The offline image ci/postgres-image.sh builds.
pub const IMAGE: &str = "migration-gate/postgres:15";

/// Docker and the offline image must be there: the docker tests fail, never skip, without them.
pub fn require_docker_image() {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", IMAGE])
        .output()
        .expect(
            "the docker CLI is missing: install Docker Engine; the docker backend tests need it",
        );
    assert!(
        out.status.success(),
        "docker image {IMAGE} is missing (or the engine does not answer): run ci/postgres-image.sh first. docker said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a container with this id still exists (running or not).
pub fn container_exists(id: &str) -> bool {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("id={id}"),
        ])
        .output()
        .expect("docker ps");
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

/// Containers (running or not) started by the gate-replay process `pid`.
pub fn containers_of(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=migration-gate.pid={pid}"),
        ])
        .output()
        .expect("docker ps");
    assert!(
        out.status.success(),
        "docker ps failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

//! `berth status` answers for the config's own daemon: it asks while it reads the config,
//! at the socket where the state dir most likely is, and must never show another stack's
//! services when the config puts its state dir elsewhere.

use crate::support::{Project, free_port, test_service};

fn names(status: &serde_json::Value) -> Vec<String> {
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_config_with_its_own_state_dir_is_not_answered_by_the_default_one() {
    let service = test_service().display().to_string();
    // Two configs in one directory: the same project name (the directory's), one daemon at
    // the default `.berth`, the other's state dir moved by the config.
    let project = Project::new(&format!(
        "state_dir: elsewhere\nservices:\n  mine:\n    command: [\"{service}\"]\n    port: {}\n",
        free_port()
    ));
    project.write(
        "other.yaml",
        &format!(
            "services:\n  theirs:\n    command: [\"{service}\"]\n    port: {}\n",
            free_port()
        ),
    );
    project.berth(&["-f", "other.yaml", "up", "-q"]).code(0);
    project.berth(&["up", "-q"]).code(0);

    let mine = project.berth(&["status", "--json"]).code(0).json();
    assert_eq!(names(&mine), ["mine"]);
    assert_eq!(mine["daemon"]["running"], true);
    let theirs = project
        .berth(&["-f", "other.yaml", "status", "--json"])
        .code(0)
        .json();
    assert_eq!(names(&theirs), ["theirs"]);
    assert_ne!(mine["daemon"]["pid"], theirs["daemon"]["pid"]);

    // Asked for one service, the answer is filtered; asked for all, it is the daemon's whole.
    let one = project.berth(&["status", "--json", "mine"]).code(0).json();
    assert_eq!(names(&one), ["mine"]);

    project.berth(&["down", "-q"]).code(0);
    project.berth(&["-f", "other.yaml", "down", "-q"]).code(0);
    // No daemon: the run files answer, still for the right config.
    let stopped = project.berth(&["status", "--json"]).code(3).json();
    assert_eq!(names(&stopped), ["mine"]);
    assert_eq!(stopped["daemon"]["running"], false);
}

//! `berth mcp` driven by a real MCP client, the official Python SDK (`tests/mcp/client.py`, in
//! the venv `.ci/run` installs under target/), against a real small stack; and its stdout read
//! raw, every line of it a JSON-RPC message.

use crate::support::{Project, free_port, repo, test_service};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `berth down` when the test ends, however it ends: nothing it started stays.
struct Down<'a>(&'a Project);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.berth(&["down", "--force"]).output_any();
    }
}

fn stack() -> (Project, u16) {
    let service = test_service().display().to_string();
    let web = free_port();
    let project = Project::new(&format!(
        "services:\n  web:\n    command: [\"{service}\"]\n    port: {web}\n  worker:\n    command: [\"{service}\", \"--no-listen\"]\n    depends_on: [web]\n  broken:\n    command: [\"{service}\", \"--no-listen\", \"--exit-after\", \"50\", \"--code\", \"3\"]\n    port: {}\n    restart: never\n    autostart: false\n",
        free_port()
    ));
    (project, web)
}

#[test]
fn a_real_mcp_client_lists_and_calls_every_tool_and_gets_errors_as_results() {
    let python = repo("target/mcp-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: .ci/run installs the MCP SDK there (python3 -m venv target/mcp-venv; target/mcp-venv/bin/pip install -r tests/mcp/requirements.txt)",
        python.display()
    );
    let (project, web) = stack();
    let _down = Down(&project);
    // A project whose state dir cannot be made (a file stands there): no daemon can start.
    let broken = Project::new("services:\n  api: { command: ./api }\n");
    broken.write(".berth", "not a directory");
    let out = Command::new(&python)
        .arg(repo("tests/mcp/client.py"))
        .arg(env!("CARGO_BIN_EXE_berth"))
        .arg(project.path())
        .arg(web.to_string())
        .arg(free_port().to_string())
        .arg(broken.path())
        .env_remove("BERTH_FILE")
        .env_remove("BERTH_STATE_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}

#[test]
fn nothing_but_protocol_is_written_on_stdout() {
    let (project, _) = stack();
    let _down = Down(&project);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("mcp")
        .current_dir(project.path())
        .env_remove("BERTH_FILE")
        .env_remove("BERTH_STATE_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let requests = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        // The calls that print the most when run as commands, a failing start among them.
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"up","arguments":{"services":["broken"],"timeout":"20s"}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"up","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"events","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"logs","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"down","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"status","arguments":{"services":[1]}}}"#,
    ];
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut answered = Vec::new();
    for request in requests {
        writeln!(stdin, "{request}").unwrap();
        // One request at a time, so that each answer is seen before the next call.
        if request.contains("\"id\"") {
            let line = lines.next().expect("an answer").unwrap();
            let message: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line}"));
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
            answered.push(message);
        }
    }
    drop(stdin);
    // The client closing stdin ends the server, promptly and cleanly, with nothing more said.
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(rest.is_empty(), "more on stdout: {rest:?}");
    let status = crate::support::wait_until(Duration::from_secs(10), || child.try_wait().unwrap());
    assert!(
        status.is_some_and(|s| s.success()),
        "berth mcp did not end: {status:?}"
    );
    let ids: Vec<i64> = answered.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(answered[1]["result"]["isError"], true, "{}", answered[1]);
    assert_eq!(answered[2]["result"]["isError"], false, "{}", answered[2]);
    assert_eq!(answered[6]["result"]["isError"], true, "{}", answered[6]);
}

#[test]
fn without_a_config_the_server_still_serves_and_says_so_in_each_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("mcp")
        .current_dir(dir.path())
        .env_remove("BERTH_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"raw","version":"1"}}}}}}"#).unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"status","arguments":{{}}}}}}"#).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let answer: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let message = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(message.contains("no berth.yaml"), "{message}");
}

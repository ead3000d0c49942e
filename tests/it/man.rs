//! `berth man`: the page rendered by the real man and groff, warnings on, with every command
//! and the exit status and files sections; one command's page; an unknown command refused.

use crate::support::Run;
use std::io::Write;
use std::process::{Command, Stdio};

/// `program ARGS` with `input` on stdin: its stdout and stderr.
fn render(program: &str, args: &[&str], input: &str) -> (String, String) {
    let mut child = Command::new(program)
        .args(args)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (.ci/run installs it): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program} failed: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The page through groff (every warning on) and man: no warning, and the text as shown.
fn shown(page: &str) -> String {
    let (_, groff) = render("groff", &["-man", "-Tutf8", "-ww", "-z"], page);
    assert_eq!(groff, "", "groff warns");
    let (text, warnings) = render("man", &["--warnings", "-l", "-"], page);
    assert_eq!(warnings, "", "man warns");
    text
}

#[test]
fn one_page_has_every_command_the_exit_status_and_the_files() {
    let page = Run::new(&["man"]).code(0).stdout();
    let text = shown(&page);
    for command in [
        "berth check",
        "berth config",
        "berth up",
        "berth down",
        "berth ensure",
        "berth restart",
        "berth logs",
        "berth status",
        "berth events",
        "berth stats",
        "berth ports who",
        "berth ports free",
        "berth alerts silence",
        "berth top",
        "berth completions",
        "berth man",
        "berth daemon stop",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == command),
            "no subsection for `{command}`:\n{text}"
        );
    }
    for section in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "COMMANDS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
    ] {
        assert!(text.lines().any(|l| l == section), "no {section}:\n{text}");
    }
    let exit = text.split("EXIT STATUS").nth(1).unwrap();
    for code in ["0", "1", "2", "3"] {
        assert!(
            exit.lines().any(|l| l.trim_start().starts_with(code)),
            "{exit}"
        );
    }
    assert!(text.contains(".berth/history.db") && text.contains("berth.sock"));
    // Hidden commands stay hidden; examples keep their lines.
    assert!(!text.contains("berth shim"));
    assert!(
        text.contains("\n         berth up api --timeout 30s\n"),
        "{text}"
    );
}

#[test]
fn a_command_has_its_own_page() {
    let text = shown(&Run::new(&["man", "ports", "who"]).code(0).stdout());
    assert!(text.starts_with("berth-ports-who(1)"), "{text}");
    assert!(text.contains("berth ports who <PORT>") && text.contains("EXIT STATUS"));
    let text = shown(&Run::new(&["man", "logs"]).code(0).stdout());
    assert!(text.contains("--since") && text.contains("FILES"), "{text}");
    // Options every command has are on the main page only.
    let options = text.split("\nOPTIONS\n").nth(1).unwrap();
    let options = options.split("\nEXIT STATUS\n").next().unwrap();
    assert!(
        options.contains("--lines") && !options.contains("--profile"),
        "{options}"
    );
}

#[test]
fn an_unknown_command_is_a_usage_error_with_a_suggestion() {
    Run::new(&["man", "stauts"])
        .code(2)
        .stderr_has("no command `stauts` in `berth`; did you mean `status`?");
    Run::new(&["man", "ports", "whom"])
        .code(2)
        .stderr_has("`who`");
}

//! `berth completions`: each script loaded into the real shell, which is then asked to complete
//! a line, as a user's TAB does: service names of the config at hand, subcommands, flags.

use crate::support::{Project, Run};
use std::path::Path;
use std::process::Command;

const CONFIG: &str = "services:\n  api: { command: ./api }\n  apple: { command: ./apple }\n  db: { command: ./db }\n";

fn script(shell: &str, dir: &Path) -> std::path::PathBuf {
    let text = Run::new(&["completions", shell]).dir(dir).code(0).stdout();
    let path = dir.join(format!("berth.{shell}"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `shell ARGS` in `dir` with no inherited berth settings; its stdout.
fn shell(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("BERTH_FILE")
        .env_remove("BERTH_STATE_DIR")
        .env_remove("COMPLETE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (.ci/run installs it): {e}"));
    assert!(
        output.status.success(),
        "{program} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The service names among what bash offers (an empty word gets the flags too).
fn bash_names(dir: &Path, script: &Path, line: &str) -> Vec<String> {
    let mut all = bash_complete(dir, script, line);
    all.retain(|w| !w.starts_with('-'));
    all
}

/// What bash's completion function offers for `line` (the last word being completed), after
/// the script was sourced the way `~/.bashrc` does.
fn bash_complete(dir: &Path, script: &Path, line: &str) -> Vec<String> {
    let program = format!(
        r#"source {script}
complete -p berth >/dev/null || exit 9
read -r -a COMP_WORDS <<< "$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="$LINE"; COMP_POINT=${{#LINE}}; COMP_TYPE=9
func=$(complete -p berth | sed -E 's/.* -F ([^ ]+) .*/\1/')
"$func" berth "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script = script.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .current_dir(dir)
        .env("LINE", line)
        .env_remove("BERTH_FILE")
        .env_remove("COMPLETE")
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_service_names_subcommands_and_flags() {
    let project = Project::new(CONFIG);
    let script = script("bash", project.path());
    assert_eq!(
        bash_complete(project.path(), &script, "berth up a"),
        ["api", "apple"]
    );
    let all = bash_complete(project.path(), &script, "berth logs api ");
    assert!(
        all.contains(&"db".to_string()) && all.contains(&"apple".to_string()),
        "{all:?}"
    );
    let commands = bash_complete(project.path(), &script, "berth st");
    assert!(
        commands.contains(&"status".to_string()) && commands.contains(&"stats".to_string()),
        "{commands:?}"
    );
    assert_eq!(
        bash_complete(project.path(), &script, "berth down --ti"),
        ["--timeout"]
    );
}

#[test]
fn the_config_is_found_from_the_current_directory_or_named_with_dash_f() {
    let project = Project::new(CONFIG);
    let script = script("bash", project.path());
    // From a subdirectory: the nearest berth.yaml above.
    let deep = project.path().join("src/deep");
    std::fs::create_dir_all(&deep).unwrap();
    assert_eq!(bash_complete(&deep, &script, "berth restart d"), ["db"]);
    // From elsewhere, the file named on the line.
    let other = Project::new("services:\n  zeta: { command: ./z }\n");
    let named = format!(
        "berth -f {} status ",
        project.path().join("berth.yaml").display()
    );
    assert_eq!(
        bash_names(other.path(), &script, &named),
        ["api", "apple", "db"]
    );
    assert_eq!(bash_names(other.path(), &script, "berth status "), ["zeta"]);
    // No config anywhere: no names, and no error on the terminal.
    let empty = tempfile::tempdir().unwrap();
    assert!(bash_complete(empty.path(), &script, "berth up a").is_empty());
}

#[test]
fn zsh_completes_service_names() {
    let project = Project::new(CONFIG);
    let script = script("zsh", project.path());
    // An interactive zsh on a pseudo-terminal (zsh's own zpty), TAB typed twice: the common
    // prefix is inserted and the candidates listed.
    let driver = format!(
        r#"zmodload zsh/zpty
zpty -b z 'zsh -f -i'
zpty -w z 'PS1="> "; autoload -U compinit; compinit -u -D; source {script}'
zpty -w -n z $'berth up a\t\t'
out=''
for i in {{1..100}}; do
  zpty -r -t z chunk && out+=$chunk
  [[ $out == *apple*api* || $out == *api*apple* ]] && [[ $out == *'berth up ap'* ]] && break
  sleep 0.05
done
zpty -d z
print -r -- "$out""#,
        script = script.display()
    );
    let out = shell(project.path(), "zsh", &["-f", "-c", &driver]);
    let (_, screen) = out
        .split_once("berth up ap")
        .unwrap_or_else(|| panic!("no common prefix inserted:\n{out}"));
    assert!(
        screen.contains("api") && screen.contains("apple") && !screen.contains("db"),
        "candidates:\n{out}"
    );
}

#[test]
fn fish_completes_service_names() {
    let project = Project::new(CONFIG);
    let script = script("fish", project.path());
    let program = format!(
        "source {}; complete -C 'berth up a'; echo ---; complete -C 'berth sta'",
        script.display()
    );
    let out = shell(project.path(), "fish", &["--no-config", "-c", &program]);
    let (names, commands) = out.split_once("---\n").expect("both parts");
    let names: Vec<&str> = names
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["api", "apple"]);
    assert!(
        commands.contains("status") && commands.contains("stats"),
        "{commands}"
    );
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let text = Run::new(&["completions", shell])
            .dir(dir.path())
            .code(0)
            .stdout();
        assert!(text.contains("COMPLETE"), "{shell}:\n{text}");
    }
    Run::new(&["completions", "tcsh"])
        .code(2)
        .stderr_has("possible values");
}

//! systemd user units: `PROJECT-NAME.service` per service and `PROJECT.target` that wants
//! every autostart one. ExecStart, WorkingDirectory, Environment, Requires/After, the
//! restart policy, KillSignal, TimeoutStopSec, Type=notify, PIDFile; the rest is noted.

use super::{Exported, File, Notes, environment, render, working_dir};
use crate::config::units::format_duration;
use crate::stack::service::{Command, Condition, RestartMode, defaults};
use crate::stack::{Service, Stack};

pub fn export(stack: &Stack) -> Exported {
    let mut notes = Notes::default();
    let mut files = Vec::new();
    for s in &stack.services {
        files.push(File {
            name: unit_name(stack, &s.name),
            text: unit(stack, s, &mut notes),
        });
    }
    let wants: Vec<String> = stack
        .services
        .iter()
        .filter(|s| s.autostart)
        .map(|s| unit_name(stack, &s.name))
        .collect();
    files.push(File {
        name: format!("{}.target", stack.project),
        text: format!(
            "# The {p} stack, exported by `berth export systemd`.\n[Unit]\nDescription={p} (berth stack)\nWants={}\n\n[Install]\nWantedBy=default.target\n",
            wants.join(" "),
            p = escape_specifiers(&stack.project),
        ),
    });
    Exported {
        files,
        notes: notes.into_vec(),
    }
}

pub fn unit_name(stack: &Stack, service: &str) -> String {
    format!("{}-{service}.service", stack.project)
}

/// Whether a dependent waits for `s` to complete: then it is a oneshot that stays active.
fn awaited_to_complete(stack: &Stack, s: &Service) -> bool {
    stack
        .services
        .iter()
        .flat_map(|o| &o.depends_on)
        .any(|d| d.service == s.name && d.condition == Condition::Completed)
}

fn unit(stack: &Stack, s: &Service, notes: &mut Notes) -> String {
    let mut unit = vec![
        format!(
            "Description={} {}",
            escape_specifiers(&stack.project),
            s.name
        ),
        format!("PartOf={}.target", stack.project),
    ];
    let deps: Vec<String> = s
        .depends_on
        .iter()
        .map(|d| unit_name(stack, &d.service))
        .collect();
    if !deps.is_empty() {
        unit.push(format!("Requires={}", deps.join(" ")));
        unit.push(format!("After={}", deps.join(" ")));
    }
    for d in &s.depends_on {
        let dep = stack
            .service(&d.service)
            .expect("a stack's dependencies exist");
        if d.condition == Condition::Healthy
            && (dep.health.is_some() || dep.ready_log.is_some())
            && !dep.notify
        {
            notes.add(
                &s.name,
                &format!("depends_on.{}", d.service),
                "systemd orders after the start, not after the health check or ready_log passes",
            );
        }
    }
    let restart = match s.restart.mode {
        RestartMode::OnFailure => "on-failure",
        RestartMode::Always => "always",
        RestartMode::Never => "no",
    };
    let oneshot = awaited_to_complete(stack, s) && s.restart.mode != RestartMode::Always;
    let mut service = vec![format!(
        "Type={}",
        if oneshot {
            "oneshot"
        } else if s.notify {
            "notify"
        } else if s.pidfile.is_some() {
            "forking"
        } else {
            "simple"
        }
    )];
    if oneshot {
        service.push("RemainAfterExit=yes".to_string());
    }
    service.push(format!("ExecStart={}", exec_line(stack, &s.command)));
    service.push(format!(
        "WorkingDirectory={}",
        escape_specifiers(&working_dir(stack, s).display().to_string())
    ));
    for (k, v) in environment(stack, s) {
        service.push(format!("Environment={}", quote(&format!("{k}={v}"), false)));
    }
    if let Some(p) = &s.pidfile {
        let path = working_dir(stack, s).join(p);
        service.push(format!(
            "PIDFile={}",
            escape_specifiers(&path.display().to_string())
        ));
    }
    service.push(format!("Restart={restart}"));
    if s.restart.mode != RestartMode::Never {
        service.push(format!("RestartSec={}", format_duration(s.restart.delay)));
        unit.push(format!("StartLimitBurst={}", s.restart.max_restarts.max(1)));
        unit.push(format!(
            "StartLimitIntervalSec={}",
            format_duration(s.restart.window)
        ));
        if s.restart.delay_max != s.restart.delay {
            notes.add(&s.name, "restart_delay_max", format!(
                "systemd restarts after a fixed RestartSec ({}), without berth's doubling backoff",
                format_duration(s.restart.delay)
            ));
        }
    }
    service.push(format!(
        "TimeoutStartSec={}",
        format_duration(s.start_timeout)
    ));
    service.push(format!("KillSignal=SIG{}", s.stop.signal.name()));
    service.push(format!(
        "TimeoutStopSec={}",
        format_duration(s.stop.timeout)
    ));
    if let Some(c) = &s.stop.command {
        service.push(format!(
            "ExecStop=/bin/sh -c {}",
            quote(&render(stack, c), true)
        ));
    }
    if s.success_codes != [0] {
        let codes: Vec<String> = s.success_codes.iter().map(|c| c.to_string()).collect();
        service.push(format!("SuccessExitStatus={}", codes.join(" ")));
    }
    lost(s, notes);
    let install = if s.autostart {
        format!("\n[Install]\nWantedBy={}.target\n", stack.project)
    } else {
        String::new()
    };
    format!(
        "# {} of the {} stack, exported by `berth export systemd`.\n[Unit]\n{}\n\n[Service]\n{}\n{install}",
        s.name,
        stack.project,
        unit.join("\n"),
        service.join("\n"),
    )
}

/// What a unit has no directive for.
fn lost(s: &Service, notes: &mut Notes) {
    if s.health.is_some() {
        notes.add(
            &s.name,
            "health",
            "systemd has no health checks; nothing restarts the service when it stops answering",
        );
    }
    if s.ready_log.is_some() {
        notes.add(
            &s.name,
            "ready_log",
            "systemd cannot wait for a log line; dependents start once it has started",
        );
    }
    if !s.alt_ports.is_empty() {
        notes.add(
            &s.name,
            "alt_ports",
            "a unit starts on its configured port only",
        );
    }
    if s.restart.min_uptime != defaults::MIN_UPTIME && s.restart.mode != RestartMode::Never {
        notes.add(&s.name, "min_uptime", "systemd has no backoff to reset");
    }
    if s.matches.is_some() {
        notes.add(
            &s.name,
            "match",
            "systemd does not adopt processes it did not start",
        );
    }
    if !s.critical {
        notes.add(&s.name, "critical", "a target has no degraded state");
    }
    if s.export.replicas > 1 {
        notes.add(
            &s.name,
            "export.replicas",
            "one unit runs one copy; make it a template unit (NAME@.service) for more",
        );
    }
}

/// The command line for ExecStart. A program given by a relative name or path is started
/// through `/bin/sh -c 'exec …'` so that it is found from WorkingDirectory and PATH when it
/// starts, as berth finds it; systemd itself wants an absolute path.
fn exec_line(stack: &Stack, command: &Command) -> String {
    match command {
        Command::Shell(line) => format!("/bin/sh -c {}", quote(&render(stack, line), true)),
        Command::Exec(args) => {
            let args: Vec<String> = args.iter().map(|a| render(stack, a)).collect();
            if args[0].starts_with('/') {
                args.iter()
                    .map(|a| quote(a, true))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                let line: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
                format!(
                    "/bin/sh -c {}",
                    quote(&format!("exec {}", line.join(" ")), true)
                )
            }
        }
    }
}

/// A word for `sh`: as it is when it holds nothing the shell reads, else in single quotes.
fn sh_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A double-quoted systemd word: C escapes, `%` specifiers doubled, and `$` doubled where
/// systemd would expand variables (command lines, not Environment=).
fn quote(text: &str, command: bool) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '%' => out.push_str("%%"),
            '$' if command => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn escape_specifiers(text: &str) -> String {
    text.replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_systemd_and_sh() {
        assert_eq!(
            quote("a \"b\" 100% $HOME\n", true),
            "\"a \\\"b\\\" 100%% $$HOME\\n\""
        );
        assert_eq!(quote("K=$V", false), "\"K=$V\"");
        assert_eq!(sh_quote("--port"), "--port");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}

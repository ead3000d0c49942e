//! A Procfile (foreman, honcho): `NAME: COMMAND` per line, run under a shell, each given
//! `PORT` as foreman does: the base port (5000, or `PORT` in the environment) plus 100 for
//! every process type before it, and the `.env` beside it read when present.

use super::draft::{Command, Draft, EnvFile, Service};
use super::leftover::Leftover;
use super::words;
use std::collections::HashSet;

/// foreman's base port when `PORT` is not set.
pub const BASE_PORT: u16 = 5000;

/// Converts a Procfile's text; `file` names it in messages, `base_port` is foreman's.
pub fn convert(file: &str, text: &str, base_port: u16) -> Result<(Draft, Vec<Leftover>), String> {
    let mut draft = Draft {
        header: vec![
            format!("Imported from {file} by `berth import`."),
            "Each service gets PORT as foreman gives it; foreman's .env is read when present."
                .to_string(),
        ],
        env_file: vec![EnvFile {
            path: ".env".to_string(),
            required: false,
        }],
        ..Draft::default()
    };
    let mut seen = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((name, command)) = trimmed.split_once(':') else {
            return Err(format!(
                "{file}:{line}:1: expected `NAME: COMMAND`, as in `web: bundle exec puma -p $PORT`"
            ));
        };
        let name = name.trim();
        let command = command.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "{file}:{line}:1: `{name}` is not a process type name; use letters, digits, `_` and `-`"
            ));
        }
        if command.is_empty() {
            return Err(format!(
                "{file}:{line}:{}: `{name}` has no command",
                raw.find(':').unwrap_or(0) + 2
            ));
        }
        if !seen.insert(name.to_string()) {
            return Err(format!(
                "{file}:{line}:1: `{name}` is defined twice; foreman runs only one of them"
            ));
        }
        let port = foreman_port(base_port, draft.services.len()).ok_or_else(|| {
            format!("{file}:{line}:1: `{name}`: its port would pass 65535; set a lower PORT")
        })?;
        let uses_port = words::mentions_port(command);
        let mut service = Service::new(name, Command::Shell(words::with_port(command, uses_port)));
        if uses_port {
            service.port = Some(port);
        } else {
            // foreman sets it for every process; one that does not say `$PORT` may still
            // read it, but berth would wait for a port only a listening service opens.
            service.env.push(("PORT".to_string(), port.to_string()));
        }
        draft.services.push(service);
    }
    if draft.services.is_empty() {
        return Err(format!(
            "{file}: no process types: a Procfile has lines like `web: bundle exec puma -p $PORT`"
        ));
    }
    let leftovers = vec![Leftover::new(
        file,
        None,
        "",
        "foreman stops every process when one exits; berth keeps the others running and restarts a failed one (`restart: never` to keep it down)",
    )];
    Ok((draft, leftovers))
}

/// The `index`-th process type's port: the base plus 100 for each one before it.
pub fn foreman_port(base: u16, index: usize) -> Option<u16> {
    u16::try_from(base as usize + 100 * index).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_as_foreman_gives_them() {
        assert_eq!(foreman_port(5000, 0), Some(5000));
        assert_eq!(foreman_port(5000, 1), Some(5100));
        assert_eq!(foreman_port(5000, 2), Some(5200));
        assert_eq!(foreman_port(65000, 6), None);
    }

    #[test]
    fn every_line_a_service_in_order() {
        let (draft, leftovers) = convert(
            "Procfile",
            "# the app\nweb: gunicorn app:app --bind 127.0.0.1:$PORT\n\nworker: celery -A app worker\nclock:python3 clock.py ${HOME}\n",
            5000,
        )
        .unwrap();
        let names: Vec<_> = draft.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web", "worker", "clock"]);
        let web = &draft.services[0];
        assert_eq!(web.port, Some(5000));
        assert_eq!(
            web.command,
            Command::Shell("gunicorn app:app --bind 127.0.0.1:${port}".into())
        );
        assert_eq!(draft.services[1].port, None);
        assert_eq!(
            draft.services[1].env,
            [("PORT".to_string(), "5100".to_string())]
        );
        assert_eq!(
            draft.services[2].command,
            Command::Shell("python3 clock.py $${HOME}".into())
        );
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn bad_lines_are_refused_at_their_place() {
        for (text, message) in [
            (
                "web: a\nnot a line\n",
                "Procfile:2:1: expected `NAME: COMMAND`",
            ),
            ("web: a\nweb: b\n", "Procfile:2:1: `web` is defined twice"),
            (
                "w eb: a\n",
                "Procfile:1:1: `w eb` is not a process type name",
            ),
            ("web:\n", "Procfile:1:5: `web` has no command"),
            ("# nothing\n", "Procfile: no process types"),
        ] {
            let err = convert("Procfile", text, 5000).unwrap_err();
            assert!(err.starts_with(message), "{text:?}: {err}");
        }
    }
}

//! `${...}` interpolation: `${port}`, `${name}`, `${replica}`, `${services.NAME.port}`,
//! `${services.NAME.ports}`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}` and `$$`.
//! Variables are resolved now; ports stay open in the `Template` (they may move at start).

use super::suggest;
use crate::stack::template::{Part, Template};
use std::collections::BTreeMap;

/// What a string being interpolated can see.
pub struct Scope<'a> {
    /// The service whose key this is; `None` for keys outside a service.
    pub service: Option<&'a str>,
    /// Every service of the stack and its configured port.
    pub ports: &'a BTreeMap<String, Option<u16>>,
    /// Where `${VAR}` is looked up, first hit wins (env files, then the environment).
    pub vars: &'a [&'a BTreeMap<String, String>],
}

/// A problem at a character offset inside the interpolated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

const KNOWN: &str = "berth knows `${port}`, `${name}`, `${replica}`, `${services.NAME.port}`, `${services.NAME.ports}` and `${VAR}`";

pub fn interpolate(text: &str, scope: &Scope) -> Result<Template, Vec<Problem>> {
    let chars: Vec<char> = text.chars().collect();
    let mut template = Template::default();
    let mut problems = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'$') {
            literal.push('$');
            i += 2;
        } else if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                problems.push(Problem {
                    offset: i,
                    len: chars.len() - i,
                    message:
                        "unterminated `${`: close it with `}`, or write `$$` for a literal `$`"
                            .to_string(),
                });
                break;
            };
            let end = i + 2 + close;
            let inner: String = chars[i + 2..end].iter().collect();
            match resolve(&inner, scope) {
                Ok(part) => {
                    template.push(Part::Text(std::mem::take(&mut literal)));
                    template.push(part);
                }
                Err(message) => problems.push(Problem {
                    offset: i,
                    len: end + 1 - i,
                    message,
                }),
            }
            i = end + 1;
        } else {
            literal.push(chars[i]);
            i += 1;
        }
    }
    template.push(Part::Text(literal));
    if problems.is_empty() {
        Ok(template)
    } else {
        Err(problems)
    }
}

fn resolve(inner: &str, scope: &Scope) -> Result<Part, String> {
    match inner {
        "" => Err(format!("empty `${{}}`; {KNOWN}")),
        "port" => match scope.service {
            None => Err("`${port}` is only available inside a service".to_string()),
            Some(name) => service_port(name, scope, "${port}"),
        },
        "name" => match scope.service {
            None => Err("`${name}` is only available inside a service".to_string()),
            Some(name) => Ok(Part::Text(name.to_string())),
        },
        // Where it may stand (a replicated service's command, env and cwd) is checked by the
        // service's decoding, which knows the key.
        "replica" => match scope.service {
            None => Err("`${replica}` is only available inside a service".to_string()),
            Some(_) => Ok(Part::Replica),
        },
        _ => match inner.strip_prefix("services.") {
            Some(rest) => match (rest.strip_suffix(".port"), rest.strip_suffix(".ports")) {
                (Some(name), _) => service_port(name, scope, &format!("${{{inner}}}")),
                (_, Some(name)) => service_port(name, scope, &format!("${{{inner}}}"))
                    .map(|_| Part::Ports(name.to_string())),
                _ => Err(format!(
                    "`${{{inner}}}`: a service offers its port and ports, as `${{services.NAME.port}}` and `${{services.NAME.ports}}`"
                )),
            },
            None => variable(inner, scope),
        },
    }
}

fn service_port(name: &str, scope: &Scope, reference: &str) -> Result<Part, String> {
    match scope.ports.get(name) {
        Some(Some(_)) => Ok(Part::Port(name.to_string())),
        Some(None) => Err(format!(
            "`{reference}`: service `{name}` has no `port`; give it one or remove the reference"
        )),
        None => Err(format!(
            "`{reference}` names no service `{name}`{}",
            suggest::hint(name, scope.ports.keys().map(String::as_str))
        )),
    }
}

/// `VAR`, `VAR:-default`, `VAR-default`, `VAR:?message`, `VAR?message`.
fn variable(inner: &str, scope: &Scope) -> Result<Part, String> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(name_len);
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_name {
        return Err(format!(
            "unknown reference `${{{inner}}}`; {KNOWN}; write `$${{` to pass `${{` to the shell"
        ));
    }
    let value = scope.vars.iter().find_map(|layer| layer.get(name));
    let set_and_not_empty = value.filter(|v| !v.is_empty());
    let text = match op {
        "" => value.cloned().ok_or_else(|| {
            format!(
                "`${{{name}}}` is not set; set it in the environment or an env_file, or give a default: `${{{name}:-value}}`"
            )
        })?,
        _ if op.starts_with(":-") => set_and_not_empty.cloned().unwrap_or_else(|| op[2..].to_string()),
        _ if op.starts_with('-') => value.cloned().unwrap_or_else(|| op[1..].to_string()),
        _ if op.starts_with(":?") => set_and_not_empty
            .cloned()
            .ok_or_else(|| required(name, &op[2..]))?,
        _ if op.starts_with('?') => value.cloned().ok_or_else(|| required(name, &op[1..]))?,
        _ => {
            return Err(format!(
                "unsupported form `${{{inner}}}`; berth supports `${{VAR}}`, `${{VAR:-default}}` and `${{VAR:?message}}`; write `$${{` to pass it to the shell"
            ));
        }
    };
    Ok(Part::Text(text))
}

fn required(name: &str, message: &str) -> String {
    if message.is_empty() {
        format!("`{name}` must be set")
    } else {
        format!("`{name}` must be set: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, service: Option<&str>) -> Result<Template, Vec<Problem>> {
        let ports: BTreeMap<String, Option<u16>> = [
            ("api".to_string(), Some(8000)),
            ("worker".to_string(), None),
        ]
        .into();
        let env: BTreeMap<String, String> = [
            ("HOME".to_string(), "/home/a".to_string()),
            ("EMPTY".to_string(), String::new()),
        ]
        .into();
        let layers = [&env];
        interpolate(
            text,
            &Scope {
                service,
                ports: &ports,
                vars: &layers,
            },
        )
    }

    fn render(text: &str) -> String {
        run(text, Some("api")).unwrap().render(&|_| Some(9999))
    }

    fn problem(text: &str, service: Option<&str>) -> Problem {
        let mut p = run(text, service).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        p.remove(0)
    }

    #[test]
    fn expands_every_form() {
        assert_eq!(render("serve --port ${port}"), "serve --port 9999");
        assert_eq!(render("${name}-${services.api.port}"), "api-9999");
        assert_eq!(render("${HOME}/x"), "/home/a/x");
        assert_eq!(render("${services.api.ports}"), "9999");
        assert_eq!(
            run("w${replica}", Some("api")).unwrap().parts(),
            [Part::Text("w".into()), Part::Replica]
        );
        assert!(
            problem("${replica}", None)
                .message
                .contains("only available inside a service")
        );
        assert!(
            problem("${services.worker.ports}", Some("api"))
                .message
                .contains("service `worker` has no `port`")
        );
        assert_eq!(
            render("${MISSING:-d}|${EMPTY:-d}|${EMPTY-d}|${MISSING-d}"),
            "d|d||d"
        );
        assert_eq!(
            render("cost: $$5 and $HOME and $"),
            "cost: $5 and $HOME and $"
        );
    }

    #[test]
    fn ports_stay_open_until_start() {
        let t = run("http://127.0.0.1:${services.api.port}/", Some("worker")).unwrap();
        assert_eq!(t.port_refs().collect::<Vec<_>>(), ["api"]);
    }

    #[test]
    fn problems_point_inside_the_text() {
        let p = problem("echo ${NOPE} done", Some("api"));
        assert_eq!((p.offset, p.len), (5, 7));
        assert!(p.message.contains("`${NOPE}` is not set"), "{}", p.message);

        let p = problem("x ${services.apu.port}", Some("api"));
        assert_eq!(p.offset, 2);
        assert!(p.message.contains("did you mean `api`"), "{}", p.message);

        assert!(
            problem("${port}", Some("worker"))
                .message
                .contains("has no `port`")
        );
        assert!(
            problem("${port}", None)
                .message
                .contains("only available inside a service")
        );
        assert!(
            problem("${services.api.host}", None)
                .message
                .contains("offers its port and ports")
        );
        assert!(problem("a ${HOME", None).message.contains("unterminated"));
        assert!(
            problem("${#HOME}", None)
                .message
                .contains("unknown reference")
        );
        assert!(
            problem("${HOME%%/*}", None)
                .message
                .contains("unsupported form")
        );
        assert!(
            problem("${EMPTY:?set it}", None)
                .message
                .contains("must be set: set it")
        );
        assert!(problem("${}", None).message.contains("empty"));
    }

    #[test]
    fn every_problem_is_reported() {
        assert_eq!(run("${A} ${B} ${C}", None).unwrap_err().len(), 3);
    }
}

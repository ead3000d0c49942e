//! PM2's ecosystem file (its JSON, or the JSON `node` makes of the JavaScript form): each app's
//! name, script, args, interpreter, cwd, env and env_<profile>, instances and exec_mode (as
//! `replicas`), autorestart, max_restarts, min_uptime, restart_delay,
//! exp_backoff_restart_delay, kill_timeout, watch and max_memory_restart (an alert rule that
//! restarts it).

use super::draft::{Command, Draft, MemoryRule, Profile, Service};
use super::leftover::Leftover;
use super::replicas::{self, At, Copies, Source};
use super::tree::Tree;
use super::words;
use crate::config::units::parse_duration;
use crate::stack::service::RestartMode;
use std::path::Path;
use std::time::Duration;

mod watch;

pub use watch::REGEXP_KEY;

/// PM2's cap on `exp_backoff_restart_delay`'s growth.
const EXP_BACKOFF_MAX: Duration = Duration::from_secs(15);

/// Where a setting of an app stands in the file the user has: the line of the parsed JSON, or
/// for the JavaScript form a line found in its source.
pub type Locate<'a> = &'a dyn Fn(&Tree, &str, &str) -> Option<usize>;

/// Whether a path, relative to the ecosystem file's directory, exists: asked of the watched
/// paths, which `berth check` refuses when they do not.
pub type Exists<'a> = &'a dyn Fn(&Path) -> bool;

/// What the import asks of the machine it runs on.
pub struct Machine<'a> {
    pub exists: Exists<'a>,
    /// Its CPUs: PM2's `instances: max` runs one copy per CPU.
    pub cpus: u32,
}

/// PM2 tells an instance its number, from 0, in `NODE_APP_INSTANCE`; in cluster mode its
/// workers share the app's port.
fn pm2_instances(cluster: bool) -> Source {
    Source {
        number_var: "NODE_APP_INSTANCE",
        shares_port: cluster,
    }
}

/// The line of the parsed value itself (the JSON form).
pub fn own_line(value: &Tree, _app: &str, _key: &str) -> Option<usize> {
    Some(value.line())
}

/// In JavaScript source: the first line naming `key` at or after the line that gives the app
/// its `name`. The evaluated JSON has no lines of the user's file, so this is how a note
/// still points into it; `None` when the source spells it in a way this does not find.
pub fn js_line(source: &str, app: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let names = |l: &&str| {
        let l = l.replace(' ', "");
        ["'", "\"", "`"].iter().any(|q| {
            l.contains(&format!("name:{q}{app}{q}")) || l.contains(&format!("\"name\":{q}{app}{q}"))
        })
    };
    let from = lines.iter().position(names).unwrap_or(0);
    let defines = |l: &&str| {
        let t = l.trim_start().trim_start_matches(['\'', '"']);
        t.strip_prefix(key).is_some_and(|rest| {
            rest.trim_start_matches(['\'', '"'])
                .trim_start()
                .starts_with(':')
        })
    };
    if key == "name" {
        return lines.iter().position(names).map(|i| i + 1);
    }
    lines[from..].iter().position(defines).map(|i| from + i + 1)
}

pub fn convert(
    tree: &Tree,
    file: &str,
    locate: Locate,
    machine: &Machine,
) -> Result<(Draft, Vec<Leftover>), String> {
    let mut draft = Draft {
        header: vec![format!("Imported from {file} by `berth import`.")],
        ..Draft::default()
    };
    let mut left = Vec::new();
    let apps = if tree.is_seq() {
        tree.items()
    } else {
        for (key, value) in tree.entries() {
            if key != "apps" {
                let why = if key == "deploy" {
                    "berth does not deploy; see `berth export` for other machines"
                } else {
                    "no berth equivalent"
                };
                left.push(Leftover::new(file, locate(value, "", key), key, why));
            }
        }
        tree.get("apps")
            .ok_or_else(|| format!("{file}: no `apps` list: nothing to import"))?
            .items()
    };
    if apps.is_empty() {
        return Err(format!("{file}: `apps` is empty: nothing to import"));
    }
    let mut profiles: Vec<Profile> = Vec::new();
    for app in &apps {
        if !app.is_map() {
            return Err(format!(
                "{}: an app is a mapping with `name` and `script`",
                app.at()
            ));
        }
        let svc = self::app(
            app,
            file,
            locate,
            machine,
            &mut draft,
            &mut profiles,
            &mut left,
        )?;
        if draft.services.iter().any(|s| s.name == svc.name) {
            return Err(format!("{}: two apps are named `{}`", app.at(), svc.name));
        }
        draft.services.push(svc);
    }
    draft.profiles = profiles;
    Ok((draft, left))
}

/// An app's name: its `name`, else its script's file name without the extension, as PM2 does;
/// what berth does not take in a name (a blank, a `/`) becomes `-`.
fn app_name(app: &Tree) -> Result<String, String> {
    let name = match app.get("name") {
        Some(n) => n.text("name")?,
        None => {
            let script = app
                .get("script")
                .ok_or_else(|| format!("{}: an app needs `script`", app.at()))?
                .text("script")?;
            let base = script.rsplit('/').next().unwrap_or(script);
            base.split('.').next().unwrap_or(base)
        }
    };
    Ok(name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect())
}

fn app(
    app: &Tree,
    file: &str,
    locate: Locate,
    machine: &Machine,
    draft: &mut Draft,
    profiles: &mut Vec<Profile>,
    left: &mut Vec<Leftover>,
) -> Result<Service, String> {
    let name = app_name(app)?;
    let command = command(app)?;
    let mut svc = Service::new(&name, command);
    // PM2 restarts an app whatever its exit code, unless told not to.
    svc.restart = Some(RestartMode::Always);
    let mut watching = watch::Keys::default();
    let (mut instances, mut cluster) = (None, false);
    for (key, value) in app.entries() {
        if watching.take(key, value) {
            continue;
        }
        let what = format!("apps.{name}.{key}");
        let line = locate(value, &name, key);
        let mut note = |why: &str| left.push(Leftover::new(file, line, key, why).on(&name));
        match key.as_str() {
            "name" | "script" | "args" | "interpreter" | "interpreter_args" | "node_args" => {}
            "cwd" => svc.cwd = Some(words::literal(value.text(&what)?)),
            "env" => svc.env = vars(value, &what)?,
            profile if profile.starts_with("env_") && profile.len() > 4 => {
                let pname = &profile[4..];
                let env = vars(value, &what)?;
                match profiles.iter_mut().find(|p| p.name == pname) {
                    Some(p) => p.services.push((name.clone(), env)),
                    None => profiles.push(Profile {
                        name: pname.to_string(),
                        services: vec![(name.clone(), env)],
                    }),
                }
            }
            // Read once every key is: cluster mode changes what the count means.
            "instances" => instances = Some((value, line)),
            "instance_var" => note(
                "PM2 names here the variable an instance's number (from 0) is in; berth's is \
                 BERTH_REPLICA, from 1, and `${replica}`",
            ),
            "exec_mode" => match value.text(&what)? {
                "cluster" | "cluster_mode" => cluster = true,
                "fork" | "fork_mode" => {}
                other => note(&format!(
                    "`{other}` is not a mode of PM2 (fork or cluster): imported as fork"
                )),
            },
            "autorestart" => {
                if !value.bool(&what)? {
                    svc.restart = Some(RestartMode::Never);
                }
            }
            "max_restarts" => svc.max_restarts = Some(value.number(&what)?.min(10_000) as u32),
            "min_uptime" => svc.min_uptime = Some(millis(value, &what)?),
            "restart_delay" => {
                let d = millis(value, &what)?;
                svc.restart_delay = Some(d);
                svc.restart_delay_max = Some(d);
            }
            "exp_backoff_restart_delay" => {
                let d = millis(value, &what)?;
                svc.restart_delay = Some(d);
                svc.restart_delay_max = Some(EXP_BACKOFF_MAX.max(d));
            }
            "kill_timeout" => svc.stop_timeout = Some(millis(value, &what)?),
            "max_memory_restart" => draft.memory_rules.push(MemoryRule {
                service: name.clone(),
                bytes: memory(value, &what)?,
            }),
            "out_file" | "error_file" | "log_file" | "merge_logs" | "combine_logs"
            | "log_date_format" | "time" | "log_type" | "disable_logs" => {
                note("berth keeps each service's log in .berth/logs/NAME.log (see `berth logs`)")
            }
            "cron_restart" => {
                note("berth has no scheduled restarts; let cron run `berth restart NAME`")
            }
            "wait_ready" | "listen_timeout" => note(
                "berth knows an app is ready by its port, a health check, `ready_log` or sd_notify (`notify: true`), not process.send('ready')",
            ),
            "pid_file" => note("berth keeps its own pids under .berth/"),
            "namespace" => note("berth has no namespaces"),
            _ => note("no berth equivalent"),
        }
    }
    let cwd = app.get("cwd").map(|c| c.text("cwd")).transpose()?;
    let at = watch::At {
        file,
        app: &name,
        cwd: Path::new(cwd.unwrap_or("")),
        locate,
        exists: machine.exists,
    };
    svc.watch = watch::convert(&watching, &at, left)?;
    if let Some((value, line)) = instances {
        let copies = copies(value, &format!("apps.{name}.instances"))?;
        let at = At {
            file,
            line,
            key: "instances",
            service: &name,
        };
        let mapped = replicas::convert(copies, machine.cpus, &pm2_instances(cluster), &at);
        svc.replicas = mapped.replicas;
        left.extend(mapped.notes);
    }
    if svc.restart == Some(RestartMode::Never) {
        // Nothing restarts it, so how fast and how often would mean nothing.
        svc.restart_delay = None;
        svc.restart_delay_max = None;
    }
    Ok(svc)
}

/// `instances`: a count, or one per CPU (`max`, `0`; `-N` spares N of them).
fn copies(value: &Tree, what: &str) -> Result<Copies, String> {
    let text = value.text(what)?;
    if text == "max" {
        return Ok(Copies::PerCpu { spare: 0 });
    }
    match text.parse::<i64>() {
        Ok(0) => Ok(Copies::PerCpu { spare: 0 }),
        Ok(n) if n < 0 => Ok(Copies::PerCpu {
            spare: n.unsigned_abs(),
        }),
        Ok(n) => Ok(Copies::Exactly(n as u64)),
        Err(_) => Err(format!(
            "{}: {what}: `{text}` is not a count of instances (a number, or `max` for one per CPU)",
            value.at()
        )),
    }
}

/// `interpreter script interpreter_args… args…` as PM2 runs it: `.js` files under `node`
/// unless told otherwise, `interpreter: none` for an executable.
fn command(app: &Tree) -> Result<Command, String> {
    let script_tree = app
        .get("script")
        .ok_or_else(|| format!("{}: an app needs `script`", app.at()))?;
    let script = script_tree.text("script")?;
    let args: Vec<String> = match app.get("args") {
        None => Vec::new(),
        Some(a) if a.is_seq() => a.strings("args")?.into_iter().map(String::from).collect(),
        Some(a) => words::split(a.text("args")?).map_err(|e| format!("{}: args: {e}", a.at()))?,
    };
    let interpreter = match app.get("interpreter") {
        Some(i) => Some(i.text("interpreter")?)
            .filter(|i| *i != "none")
            .map(String::from),
        None => default_interpreter(script).map(String::from),
    };
    if interpreter.is_none() && args.is_empty() && script.contains(' ') {
        // `script: "npm run start"`: a command line, as PM2 also accepts.
        return Ok(Command::Shell(words::literal(script)));
    }
    let mut argv = Vec::new();
    if let Some(i) = interpreter {
        argv.push(i);
        for key in ["node_args", "interpreter_args"] {
            if let Some(a) = app.get(key) {
                let list = if a.is_seq() {
                    a.strings(key)?.into_iter().map(String::from).collect()
                } else {
                    words::split(a.text(key)?).map_err(|e| format!("{}: {key}: {e}", a.at()))?
                };
                argv.extend(list);
            }
        }
    }
    argv.push(script.to_string());
    argv.extend(args);
    Ok(Command::Exec(
        argv.iter().map(|a| words::literal(a)).collect(),
    ))
}

/// What PM2 runs a script with when no `interpreter` is given, by its extension.
pub fn default_interpreter(script: &str) -> Option<&'static str> {
    let ext = script.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "js" | "mjs" | "cjs" => "node",
        "py" => "python",
        "sh" => "bash",
        "rb" => "ruby",
        "php" => "php",
        "pl" => "perl",
        "coffee" => "coffee",
        "ts" => "ts-node",
        _ => return None,
    })
}

fn vars(value: &Tree, what: &str) -> Result<Vec<(String, String)>, String> {
    if !value.is_map() {
        return Err(format!(
            "{}: {what}: expected a mapping of variables",
            value.at()
        ));
    }
    value
        .entries()
        .iter()
        .map(|(k, v)| {
            let text = if v.is_null() {
                ""
            } else {
                v.text(&format!("{what}.{k}"))?
            };
            Ok((k.clone(), words::literal(text)))
        })
        .collect()
}

/// PM2's times: a number of milliseconds, or a string with a unit (`"10s"`).
pub fn parse_millis(text: &str) -> Option<Duration> {
    match text.parse::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => parse_duration(text).ok(),
    }
}

fn millis(value: &Tree, what: &str) -> Result<Duration, String> {
    let text = value.text(what)?;
    parse_millis(text).ok_or_else(|| {
        format!(
            "{}: {what}: expected milliseconds (`1500`) or a duration (`10s`), found {text:?}",
            value.at()
        )
    })
}

/// PM2's memory sizes: bytes, or a number with `K`, `M` or `G` (powers of 1024).
pub fn parse_memory(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" => 10,
        "M" | "MB" => 20,
        "G" | "GB" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift).filter(|b| *b > 0)
}

fn memory(value: &Tree, what: &str) -> Result<u64, String> {
    let text = value.text(what)?;
    parse_memory(text).ok_or_else(|| {
        format!(
            "{}: {what}: expected a size like `300M` or `1G`, found {text:?}",
            value.at()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::draft::Watch;
    use crate::import::tree::parse;

    fn convert_json(text: &str) -> (Draft, Vec<Leftover>) {
        let p = parse("eco.json", text).unwrap();
        let machine = Machine {
            exists: &|_| true,
            cpus: 4,
        };
        convert(&Tree::of(&p), "eco.json", &own_line, &machine).unwrap()
    }

    #[test]
    fn units_as_pm2_reads_them() {
        assert_eq!(parse_memory("300M"), Some(300 << 20));
        assert_eq!(parse_memory("1G"), Some(1 << 30));
        assert_eq!(parse_memory("512K"), Some(512 << 10));
        assert_eq!(parse_memory("2048"), Some(2048));
        assert_eq!(parse_memory("lots"), None);
        assert_eq!(parse_millis("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_millis("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_millis("soon"), None);
    }

    #[test]
    fn commands_as_pm2_runs_them() {
        let (d, _) = convert_json(
            r#"{"apps": [
              {"name": "api", "script": "server.js", "args": "--port 3000 --name 'my api'", "node_args": "--max-old-space-size=512"},
              {"name": "py", "script": "worker.py", "interpreter": "python3"},
              {"name": "bin", "script": "./bin/serve", "interpreter": "none", "args": ["-v"]},
              {"script": "npm run start"}
            ]}"#,
        );
        let argv = |i: usize| d.services[i].command.clone();
        assert_eq!(
            argv(0),
            Command::Exec(vec![
                "node".into(),
                "--max-old-space-size=512".into(),
                "server.js".into(),
                "--port".into(),
                "3000".into(),
                "--name".into(),
                "my api".into()
            ])
        );
        assert_eq!(
            argv(1),
            Command::Exec(vec!["python3".into(), "worker.py".into()])
        );
        assert_eq!(
            argv(2),
            Command::Exec(vec!["./bin/serve".into(), "-v".into()])
        );
        assert_eq!(argv(3), Command::Shell("npm run start".into()));
        assert_eq!(d.services[3].name, "npm-run-start");
    }

    #[test]
    fn restart_keys_are_pinned() {
        let (d, left) = convert_json(
            r#"{"apps": [{"name": "a", "script": "a.js", "autorestart": false, "max_restarts": 3, "min_uptime": "5s", "kill_timeout": 3000, "restart_delay": 2000},
                         {"name": "b", "script": "b.js", "exp_backoff_restart_delay": 100, "max_memory_restart": "300M", "instances": 1},
                         {"name": "c", "script": "c.js", "restart_delay": 2000}]}"#,
        );
        let a = &d.services[0];
        assert_eq!(a.restart, Some(RestartMode::Never));
        assert_eq!(a.max_restarts, Some(3));
        assert_eq!(a.min_uptime, Some(Duration::from_secs(5)));
        assert_eq!(a.stop_timeout, Some(Duration::from_secs(3)));
        // Nothing restarts it, so no delays are written.
        assert_eq!((a.restart_delay, a.restart_delay_max), (None, None));
        let c = &d.services[2];
        assert_eq!(
            (c.restart_delay, c.restart_delay_max),
            (Some(Duration::from_secs(2)), Some(Duration::from_secs(2)))
        );
        let b = &d.services[1];
        assert_eq!(b.restart, Some(RestartMode::Always));
        assert_eq!(
            (b.restart_delay, b.restart_delay_max),
            (Some(Duration::from_millis(100)), Some(EXP_BACKOFF_MAX))
        );
        assert_eq!(
            d.memory_rules,
            [MemoryRule {
                service: "b".into(),
                bytes: 300 << 20
            }]
        );
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn watching_is_pinned() {
        let (d, left) = convert_json(
            r#"{"apps": [
              {"name": "all", "script": "a.js", "watch": true},
              {"name": "empty", "script": "a.js", "watch": [], "ignore_watch": [], "watch_delay": 0},
              {"name": "some", "script": "a.js", "watch": "src", "ignore_watch": "*.log", "watch_delay": "2s"},
              {"name": "list", "script": "a.js", "ignore_watch": ["tmp", "^cache", {"$regexp": "\\.bak$", "flags": "i"}], "watch": ["src", "lib/*.js"],
               "watch_options": {"usePolling": true}},
              {"name": "off", "script": "a.js", "watch": false, "ignore_watch": "^x", "watch_options": {}},
              {"name": "never", "script": "a.js", "ignore_watch": "tmp", "watch_delay": 1000}
            ]}"#,
        );
        let w = |i: usize| d.services[i].watch.clone();
        let watch = |paths: &[&str], ignore: &[&str], debounce: Option<u64>| {
            Some(Watch {
                paths: paths.iter().map(|p| p.to_string()).collect(),
                ignore: ignore.iter().map(|p| p.to_string()).collect(),
                debounce: debounce.map(Duration::from_millis),
            })
        };
        // PM2's own default ignores dotfiles and node_modules; a list of its own replaces it.
        assert_eq!(w(0), watch(&["."], &[".*", "node_modules"], None));
        // Zero delay: berth's debounce (it must be positive) stays its default.
        assert_eq!(w(1), watch(&["."], &[], None));
        assert_eq!(w(2), watch(&["src"], &["*.log"], Some(2000)));
        assert_eq!(w(3), watch(&["src", "lib/*.js"], &["tmp"], None));
        // Without watching, the other keys do nothing in PM2 and are not listed.
        assert_eq!((w(4), w(5)), (None, None));
        let listed: Vec<(&str, &str, &str)> = left
            .iter()
            .map(|l| {
                (
                    l.comment_on.as_deref().unwrap(),
                    l.key.as_str(),
                    l.why.as_str(),
                )
            })
            .collect();
        assert_eq!(listed.len(), 3, "{listed:#?}");
        assert!(listed[0].2.starts_with("`^cache` is a regular expression"));
        assert!(
            listed[1]
                .2
                .starts_with("/\\.bak$/i is a regular expression")
        );
        assert_eq!(listed[2].1, "watch_options");
        assert!(listed.iter().all(|l| l.0 == "list"));
    }

    #[test]
    fn instances_are_replicas_unless_cluster_workers_share_a_port() {
        let (d, left) = convert_json(
            r#"{"apps": [
              {"name": "three", "script": "a.js", "instances": 3},
              {"name": "all", "script": "a.js", "instances": "max", "exec_mode": "fork"},
              {"name": "spare", "script": "a.js", "instances": -1},
              {"name": "web", "script": "a.js", "exec_mode": "cluster", "instances": 2},
              {"name": "one", "script": "a.js", "exec_mode": "cluster_mode"},
              {"name": "odd", "script": "a.js", "exec_mode": "swarm"}
            ]}"#,
        );
        let replicas: Vec<Option<u32>> = d.services.iter().map(|s| s.replicas).collect();
        assert_eq!(replicas, [Some(3), Some(4), Some(3), None, None, None]);
        let listed: Vec<(&str, &str)> = left
            .iter()
            .map(|l| (l.comment_on.as_deref().unwrap(), l.key.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("three", "instances"),
                ("all", "instances"),
                ("all", "instances"),
                ("spare", "instances"),
                ("spare", "instances"),
                ("web", "instances"),
                ("odd", "exec_mode")
            ]
        );
        assert!(
            left[0]
                .why
                .starts_with("NODE_APP_INSTANCE (0 to 2) is not set")
        );
        assert!(left[1].why.contains("written as 4"));
        assert!(left[5].why.starts_with("2 workers sharing one port"));
        let p = parse(
            "eco.json",
            r#"{"apps": [{"name": "a", "script": "a.js", "instances": "lots"}]}"#,
        )
        .unwrap();
        let machine = Machine {
            exists: &|_| true,
            cpus: 4,
        };
        let err = convert(&Tree::of(&p), "eco.json", &own_line, &machine).unwrap_err();
        assert!(err.contains("`lots` is not a count of instances"), "{err}");
    }

    #[test]
    fn lines_are_found_in_javascript() {
        let js = "module.exports = {\n  apps: [{\n    name: 'web',\n    watch: true,\n  }, {\n    name: \"api\",\n    script: 'api.js',\n    watch: ['src'],\n  }]\n}\n";
        assert_eq!(js_line(js, "api", "watch"), Some(8));
        assert_eq!(js_line(js, "web", "watch"), Some(4));
        assert_eq!(js_line(js, "api", "name"), Some(6));
        assert_eq!(js_line(js, "api", "cron_restart"), None);
    }
}

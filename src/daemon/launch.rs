//! Turning a service of the stack into what its shim runs: argv, the exact environment,
//! working directory, log and run-file paths, and the stop policy, with every port as
//! assigned at start (so dependents of a moved service are told its new port).

use crate::config::validate::port_variable;
use crate::process::markers;
use crate::shim::ShimSpec;
use crate::stack::service::Command as ServiceCommand;
use crate::stack::{Service, Stack};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The instance's number, in a replicated service's environment.
pub const REPLICA: &str = "BERTH_REPLICA";

/// Where a service's files live in the state dir.
pub fn log_path(stack: &Stack, service: &str) -> PathBuf {
    stack.state_dir.join("logs").join(format!("{service}.log"))
}

pub fn run_file_path(stack: &Stack, service: &str) -> PathBuf {
    stack.state_dir.join("run").join(format!("{service}.json"))
}

/// The environment a service starts with: the caller's environment, then the service's
/// configured variables, then what berth tells every service (these win: they are facts).
pub fn environment(
    stack: &Stack,
    service: &Service,
    base: &BTreeMap<String, String>,
    port_of: &dyn Fn(&str) -> Option<u16>,
) -> BTreeMap<String, String> {
    let mut env = base.clone();
    for (key, value) in &service.env {
        env.insert(key.clone(), value.render(port_of));
    }
    if let Some(port) = port_of(&service.name) {
        env.insert("PORT".into(), port.to_string());
    }
    env.insert(
        markers::STACK.into(),
        stack.state_dir.to_string_lossy().into_owned(),
    );
    env.insert(markers::PROJECT.into(), stack.project.clone());
    env.insert(markers::SERVICE.into(), service.name.clone());
    if let Some(replica) = &service.replica {
        env.insert(REPLICA.into(), replica.index.to_string());
    }
    for other in &stack.services {
        if let Some(port) = port_of(&other.name) {
            env.insert(port_variable(&other.name), port.to_string());
        }
    }
    env
}

/// The shim's instructions for `service`.
pub fn shim_spec(
    stack: &Stack,
    service: &Service,
    base: &BTreeMap<String, String>,
    port_of: &dyn Fn(&str) -> Option<u16>,
) -> ShimSpec {
    let dir = stack.file.parent().unwrap_or(Path::new("/"));
    let cwd = service.directory(dir, port_of);
    ShimSpec {
        project: stack.project.clone(),
        service: service.name.clone(),
        argv: service.command.argv(port_of),
        env: environment(stack, service, base, port_of)
            .into_iter()
            .collect(),
        pidfile: service.pidfile.as_ref().map(|p| cwd.join(p)),
        cwd,
        port: port_of(&service.name),
        log: log_path(stack, &service.name),
        log_max_size: service.log.max_size,
        log_keep: service.log.keep,
        run_file: run_file_path(stack, &service.name),
        stop_signal: service.stop.signal,
        stop_timeout: service.stop.timeout,
        stop_command: service
            .stop
            .command
            .as_ref()
            .map(|c| ServiceCommand::Shell(c.clone()).argv(port_of)),
        notify: service.notify,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Options};

    fn stack(yaml: &str) -> (tempfile::TempDir, Stack) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.yaml");
        std::fs::write(&file, yaml).unwrap();
        let stack = config::load(&file, &Options::default()).unwrap();
        (dir, stack)
    }

    #[test]
    fn the_environment_layers_and_markers() {
        let (_dir, stack) = stack(
            "project: shop\nservices:\n  db:\n    command: db\n    port: 5432\n  my-api.v2:\n    command: api --db ${services.db.port}\n    port: 8000\n    env: { PORT: '1', HOME: /srv, DB: 'localhost:${services.db.port}' }\n  worker:\n    command: w\n",
        );
        let base: BTreeMap<String, String> = [
            ("HOME".to_string(), "/home/u".to_string()),
            ("LANG".to_string(), "C".to_string()),
        ]
        .into();
        // db moved to 5433 at start.
        let ports = |name: &str| match name {
            "db" => Some(5433),
            other => stack.configured_port(other),
        };
        let api = stack.service("my-api.v2").unwrap();
        let env = environment(&stack, api, &base, &ports);
        assert_eq!(env["LANG"], "C");
        assert_eq!(env["HOME"], "/srv");
        assert_eq!(
            env["PORT"], "8000",
            "berth's PORT wins over a configured one"
        );
        assert_eq!(env["DB"], "localhost:5433");
        assert_eq!(env["BERTH_PROJECT"], "shop");
        assert_eq!(env["BERTH_SERVICE"], "my-api.v2");
        assert_eq!(env["BERTH_STACK"], stack.state_dir.to_str().unwrap());
        assert_eq!(env["BERTH_DB_PORT"], "5433");
        assert_eq!(env["BERTH_MY_API_V2_PORT"], "8000");
        assert!(!env.contains_key("BERTH_WORKER_PORT"));
        let worker = environment(&stack, stack.service("worker").unwrap(), &base, &ports);
        assert!(!worker.contains_key("PORT"));

        let spec = shim_spec(&stack, api, &base, &ports);
        assert_eq!(spec.argv, ["sh", "-c", "api --db 5433"]);
        assert_eq!(spec.port, Some(8000));
        assert_eq!(spec.log, stack.state_dir.join("logs/my-api.v2.log"));
        assert_eq!(spec.run_file, stack.state_dir.join("run/my-api.v2.json"));
        assert_eq!(spec.cwd, stack.file.parent().unwrap());
    }
}

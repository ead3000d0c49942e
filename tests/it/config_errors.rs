//! The corpus of broken configs: each file fails with exactly these problems, at exactly
//! these positions, with exactly these messages.

use crate::support::fixture;
use berth::config::{self, LoadError, Options};

/// `(fixture, [(file, line, column, message)])`, problems in report order.
type Case = (
    &'static str,
    &'static [(&'static str, usize, usize, &'static str)],
);

const CASES: &[Case] = &[
    (
        "alerts-action-on-system.yaml",
        &[
            (
                "alerts-action-on-system.yaml",
                5,
                7,
                "alerts.rules.disk: `services` has no meaning for system.disk, which is about the machine; remove it",
            ),
            (
                "alerts-action-on-system.yaml",
                6,
                7,
                "alerts.rules.disk: `action: restart` has no service to restart: system.disk is about the machine; remove it",
            ),
            (
                "alerts-action-on-system.yaml",
                9,
                7,
                "alerts.rules.moved: `action` has no meaning for an `on:` rule, which notifies once per event; remove it",
            ),
        ],
    ),
    (
        "alerts-bad-operator.yaml",
        &[
            (
                "alerts-bad-operator.yaml",
                4,
                20,
                "alerts.rules.big.when: unknown operator `=>`; did you mean `>=`?",
            ),
            (
                "alerts-bad-operator.yaml",
                6,
                20,
                "alerts.rules.small.when: unknown operator `=`; did you mean `==`?",
            ),
        ],
    ),
    (
        "alerts-bad-unit.yaml",
        &[
            (
                "alerts-bad-unit.yaml",
                4,
                19,
                "alerts.rules.hot.when: `5MiB` is a size, but cpu is a percent of one core; write e.g. `cpu > 80%`",
            ),
            (
                "alerts-bad-unit.yaml",
                6,
                29,
                "alerts.rules.slow.when: `80%` is a percent, but check_latency is a duration; write e.g. `check_latency > 200ms`",
            ),
            (
                "alerts-bad-unit.yaml",
                8,
                27,
                "alerts.rules.full.when: `90` has no unit, but system.disk is a size or a percent of each disk; write e.g. `system.disk > 90%` or `system.disk > 10GiB`",
            ),
        ],
    ),
    (
        "alerts-bad-url.yaml",
        &[
            (
                "alerts-bad-url.yaml",
                4,
                16,
                "alerts.channels.ops.webhook: invalid URL `ftp://x`: use an `http://` or `https://` URL",
            ),
            (
                "alerts-bad-url.yaml",
                6,
                21,
                "alerts.channels.am.alertmanager: invalid URL `http://`: it has no host, e.g. `https://hooks.example.com/berth`",
            ),
            (
                "alerts-bad-url.yaml",
                8,
                14,
                "alerts.channels.team.slack: `${BERTH_TEST_SLACK_URL_UNSET}` is not set; set it in the environment or an env_file, or give a default: `${BERTH_TEST_SLACK_URL_UNSET:-value}`",
            ),
            (
                "alerts-bad-url.yaml",
                10,
                16,
                "alerts.channels.hook.webhook: invalid URL `${BERTH_TEST_HOOK_UNSET:-hooks.example.com/x}` (once expanded): use an `http://` or `https://` URL",
            ),
        ],
    ),
    (
        "alerts-channel-mistakes.yaml",
        &[
            (
                "alerts-channel-mistakes.yaml",
                4,
                5,
                "alerts.channels: invalid channel name `my team`; use letters, digits, `_` and `-`",
            ),
            (
                "alerts-channel-mistakes.yaml",
                5,
                71,
                "alerts.channels.chat: `headers` applies to `webhook` channels only",
            ),
            (
                "alerts-channel-mistakes.yaml",
                6,
                19,
                "alerts.channels.desk.exec: empty command; give the program and its arguments",
            ),
            (
                "alerts-channel-mistakes.yaml",
                6,
                32,
                "alerts.channels.desk.timeout: must be more than 0",
            ),
            (
                "alerts-channel-mistakes.yaml",
                9,
                18,
                "alerts.channels.ops.headers: `X Key` is not a header name; use letters, digits and `-`",
            ),
            (
                "alerts-channel-mistakes.yaml",
                9,
                40,
                "alerts.channels.ops.headers.X-Port: a service's port cannot be used here: it is only known once the service starts",
            ),
            (
                "alerts-channel-mistakes.yaml",
                10,
                12,
                "alerts.channels.pager: needs one kind: `webhook: URL`, `slack: URL`, `exec: COMMAND` or `alertmanager: URL`",
            ),
            (
                "alerts-channel-mistakes.yaml",
                10,
                14,
                "unknown key `pagerduty` in `alerts.channels.pager`; expected one of: webhook, headers, slack, exec, timeout, alertmanager",
            ),
        ],
    ),
    (
        "alerts-duplicate-rule.yaml",
        &[(
            "alerts-duplicate-rule.yaml",
            5,
            13,
            "alerts.rules: duplicate rule name `disk`; the first is at line 3",
        )],
    ),
    (
        "alerts-for-on-event-rule.yaml",
        &[(
            "alerts-for-on-event-rule.yaml",
            5,
            7,
            "alerts.rules.moved: `for` has no meaning for an `on:` rule, which notifies once per event; remove it",
        )],
    ),
    (
        "alerts-restarts-syntax.yaml",
        &[
            (
                "alerts-restarts-syntax.yaml",
                4,
                24,
                "alerts.rules.flapping.when: `x` is not a whole number; write e.g. `restarts > 3 in 10m`",
            ),
            (
                "alerts-restarts-syntax.yaml",
                6,
                26,
                "alerts.rules.flapping-more.when: expected `in` after the count, found `within`; write e.g. `restarts > 3 in 10m`",
            ),
        ],
    ),
    (
        "alerts-rule-mistakes.yaml",
        &[
            (
                "alerts-rule-mistakes.yaml",
                4,
                7,
                "alerts.rules[0]: missing `name`, e.g. `name: api-memory`",
            ),
            (
                "alerts-rule-mistakes.yaml",
                7,
                7,
                "alerts.rules.both: has both `when` and `on`; a rule has one trigger",
            ),
            (
                "alerts-rule-mistakes.yaml",
                8,
                7,
                "alerts.rules.neither: needs `when: CONDITION` (e.g. `when: memory > 500MiB`) or `on: EVENT_KIND` (e.g. `on: failed`)",
            ),
            (
                "alerts-rule-mistakes.yaml",
                10,
                7,
                "alerts.rules.typo: needs `when: CONDITION` (e.g. `when: memory > 500MiB`) or `on: EVENT_KIND` (e.g. `on: failed`)",
            ),
            (
                "alerts-rule-mistakes.yaml",
                11,
                7,
                "unknown key `whn` in `alerts.rules.typo`; did you mean `when`?",
            ),
            (
                "alerts-rule-mistakes.yaml",
                15,
                35,
                "alerts.rules.top.escalate.to: a `critical` rule cannot escalate: nothing is above critical; remove `escalate`",
            ),
            (
                "alerts-rule-mistakes.yaml",
                18,
                34,
                "alerts.rules.same.escalate.to: `warning` is not above the rule's severity, `warning`; escalate to `critical`",
            ),
            (
                "alerts-rule-mistakes.yaml",
                21,
                17,
                "alerts.rules.too-often.severity: unknown value `urgent`; expected one of: info, warning, critical",
            ),
            (
                "alerts-rule-mistakes.yaml",
                22,
                15,
                "alerts.rules.too-often.repeat: 30s is too short; use at least 1m",
            ),
            (
                "alerts-rule-mistakes.yaml",
                23,
                17,
                "alerts.rules.too-often.escalate: missing `after`; write e.g. `escalate: {after: 10m, to: critical}`",
            ),
            (
                "alerts-rule-mistakes.yaml",
                26,
                17,
                "alerts.rules.nobody.services: empty; leave `services` out to cover every service",
            ),
            (
                "alerts-rule-mistakes.yaml",
                27,
                15,
                "alerts.rules.nobody.notify: empty; leave `notify` out to notify every channel",
            ),
        ],
    ),
    (
        "alerts-two-kinds-channel.yaml",
        &[
            (
                "alerts-two-kinds-channel.yaml",
                5,
                7,
                "alerts.channels.ops: has both `webhook` and `slack`; keep one kind",
            ),
            (
                "alerts-two-kinds-channel.yaml",
                6,
                12,
                "alerts.channels.empty: needs one kind: `webhook: URL`, `slack: URL`, `exec: COMMAND` or `alertmanager: URL`",
            ),
        ],
    ),
    (
        "alerts-unknown-channel.yaml",
        &[(
            "alerts-unknown-channel.yaml",
            7,
            16,
            "alerts.rules.down.notify: no channel `teem`; did you mean `team`?",
        )],
    ),
    (
        "alerts-unknown-event-kind.yaml",
        &[
            (
                "alerts-unknown-event-kind.yaml",
                4,
                12,
                "alerts.rules.moved.on: unknown event kind `prot`; did you mean `port`?",
            ),
            (
                "alerts-unknown-event-kind.yaml",
                4,
                26,
                "alerts.rules.moved.on: unknown event kind `exploded`; expected one of: started, ready, exited, restarting, failed, stopped, completed, adopted, port, health, alert, watch, config, history, api",
            ),
        ],
    ),
    (
        "alerts-unknown-metric.yaml",
        &[(
            "alerts-unknown-metric.yaml",
            4,
            13,
            "alerts.rules.big.when: unknown metric `memry`; did you mean `memory`?",
        )],
    ),
    (
        "alerts-unknown-service.yaml",
        &[(
            "alerts-unknown-service.yaml",
            5,
            18,
            "alerts.rules.api-memory.services: no service `apii`; did you mean `api`?",
        )],
    ),
    (
        "alt-ports-without-port.yaml",
        &[(
            "alt-ports-without-port.yaml",
            4,
            5,
            "services.api: `alt_ports` needs `port`, the port to try first",
        )],
    ),
    (
        "api-bad-listen.yaml",
        &[(
            "api-bad-listen.yaml",
            2,
            11,
            "api.listen: `api.example.com` is not an IP address; use an address like 127.0.0.1, or `localhost`",
        )],
    ),
    (
        "api-bad-port.yaml",
        &[
            (
                "api-bad-port.yaml",
                2,
                1,
                "missing `services`: say what to run, e.g. `services: {api: {command: ./api, port: 8000}}`",
            ),
            (
                "api-bad-port.yaml",
                3,
                11,
                "api.listen: port 70000 is out of range; use 1 to 65535",
            ),
            (
                "api-bad-port.yaml",
                4,
                17,
                "api.allow_remote: expected `true` or `false`, found \"yes\"",
            ),
        ],
    ),
    (
        "api-bad-token.yaml",
        &[
            (
                "api-bad-token.yaml",
                3,
                10,
                "api.token: too short (5 characters); use at least 16, e.g. the output of `openssl rand -hex 32`",
            ),
            (
                "api-bad-token.yaml",
                4,
                26,
                "api.metrics_without_token: expected `true` or `false`, found \"maybe\"",
            ),
        ],
    ),
    (
        "api-listen-remote.yaml",
        &[(
            "api-listen-remote.yaml",
            2,
            11,
            "api.listen: 0.0.0.0:9400 is not a loopback address, so the API would be reachable from the network; set `allow_remote: true` to allow that, or listen on 127.0.0.1",
        )],
    ),
    (
        "api-token-unset.yaml",
        &[(
            "api-token-unset.yaml",
            2,
            10,
            "api.token: `${BERTH_TEST_TOKEN_UNSET}` is not set; set it in the environment or an env_file, or give a default: `${BERTH_TEST_TOKEN_UNSET:-value}`",
        )],
    ),
    (
        "api-unknown-key.yaml",
        &[
            (
                "api-unknown-key.yaml",
                3,
                3,
                "unknown key `tokn` in `api`; did you mean `token`?",
            ),
            (
                "api-unknown-key.yaml",
                4,
                3,
                "unknown key `metrics` in `api`; expected one of: listen, token, metrics_without_token, allow_remote",
            ),
        ],
    ),
    (
        "bad-duration.yaml",
        &[
            (
                "bad-duration.yaml",
                4,
                20,
                "services.api.start_timeout: duration `5` has no unit; write a number with a unit: `500ms`, `5s`, `2m`, `1h`",
            ),
            (
                "bad-duration.yaml",
                5,
                19,
                "services.api.stop_timeout: unknown duration unit `seconds` in `10 seconds`; use ms, s, m, h or d",
            ),
            (
                "bad-duration.yaml",
                6,
                21,
                "services.api.restart_window: must be more than 0",
            ),
        ],
    ),
    (
        "bad-port-range.yaml",
        &[
            (
                "bad-port-range.yaml",
                2,
                14,
                "ports.reserved: range 9100-9000 is backwards; write 9000-9100",
            ),
            (
                "bad-port-range.yaml",
                7,
                17,
                "services.api.alt_ports: 99999 is out of range; use 1 to 65535",
            ),
            (
                "bad-port-range.yaml",
                7,
                31,
                "services.api.alt_ports: expected a number from 1 to 65535 or a range like \"1-65535\", found \"abc\"",
            ),
        ],
    ),
    (
        "bad-project.yaml",
        &[(
            "bad-project.yaml",
            1,
            10,
            "project: invalid name `my shop`; use letters, digits, `_`, `-` and `.`, starting with a letter or digit",
        )],
    ),
    (
        "bad-regex.yaml",
        &[(
            "bad-regex.yaml",
            4,
            16,
            "services.api.ready_log: invalid regular expression: unclosed group",
        )],
    ),
    (
        "bad-restart.yaml",
        &[(
            "bad-restart.yaml",
            4,
            14,
            "services.api.restart: unknown value `unless-stopped`; expected one of: on-failure, always, never",
        )],
    ),
    (
        "bad-service-name.yaml",
        &[(
            "bad-service-name.yaml",
            2,
            3,
            "services: invalid service name `my api`; use up to 63 letters, digits, `_`, `-` and `.`, starting with a letter or digit",
        )],
    ),
    (
        "bad-signal.yaml",
        &[
            (
                "bad-signal.yaml",
                4,
                18,
                "services.api.stop_signal: unknown signal `TREM`; did you mean `TERM`? use a name like TERM, INT, QUIT or HUP",
            ),
            (
                "bad-signal.yaml",
                7,
                18,
                "services.db.stop_signal: unknown signal number 99; use 1 to 31 or a name like TERM",
            ),
        ],
    ),
    (
        "bad-size.yaml",
        &[
            (
                "bad-size.yaml",
                4,
                22,
                "services.api.log.max_size: unknown size unit `parsecs` in `10 parsecs`; use B, KiB, MiB, GiB, KB, MB or GB",
            ),
            (
                "bad-size.yaml",
                4,
                40,
                "services.api.log.keep: -1 is out of range; use 0 to 1000",
            ),
        ],
    ),
    (
        "bad-strategy.yaml",
        &[(
            "bad-strategy.yaml",
            2,
            13,
            "ports.strategy: unknown value `agressive`; expected one of: intelligent, conservative, aggressive; did you mean `aggressive`?",
        )],
    ),
    (
        "cycle-self.yaml",
        &[(
            "cycle-self.yaml",
            4,
            18,
            "services.api.depends_on: dependency cycle: api -> api (a service cannot depend on itself)",
        )],
    ),
    (
        "cycle-three.yaml",
        &[(
            "cycle-three.yaml",
            4,
            18,
            "services.a.depends_on: dependency cycle: a -> b -> c -> a",
        )],
    ),
    (
        "cycle-two.yaml",
        &[(
            "cycle-two.yaml",
            4,
            18,
            "services.api.depends_on: dependency cycle: api -> worker -> api",
        )],
    ),
    (
        "depends-on-bad-condition.yaml",
        &[(
            "depends-on-bad-condition.yaml",
            5,
            24,
            "services.api.depends_on.db.condition: unknown value `ready`; expected one of: started, healthy, completed",
        )],
    ),
    (
        "depends-on-unknown.yaml",
        &[(
            "depends-on-unknown.yaml",
            4,
            18,
            "services.api.depends_on: no service `dbb`; did you mean `db`?",
        )],
    ),
    (
        "duplicate-port.yaml",
        &[(
            "duplicate-port.yaml",
            7,
            11,
            "services.admin.port: port 8000 is also the port of service `api` (line 4); give each service its own port",
        )],
    ),
    (
        "empty-command.yaml",
        &[
            (
                "empty-command.yaml",
                3,
                14,
                "services.api.command: empty command; give the program and its arguments",
            ),
            (
                "empty-command.yaml",
                5,
                14,
                "services.db.command: empty command; give the program and its arguments",
            ),
        ],
    ),
    (
        "empty-file.yaml",
        &[(
            "empty-file.yaml",
            1,
            1,
            "the config is empty; add `services:` with at least one service",
        )],
    ),
    (
        "empty-services.yaml",
        &[(
            "empty-services.yaml",
            2,
            1,
            "`services` is empty; define at least one service",
        )],
    ),
    (
        "env-file-missing.yaml",
        &[(
            "env-file-missing.yaml",
            1,
            11,
            "env_file: env file `does-not-exist.env` not found (looked for tests/fixtures/invalid/does-not-exist.env); create it, or write `{path: does-not-exist.env, required: false}`",
        )],
    ),
    (
        "env-file-syntax.yaml",
        &[
            ("env-file-syntax.env", 2, 1, "expected `KEY=VALUE`"),
            (
                "env-file-syntax.env",
                3,
                1,
                "invalid variable name `2BAD`: use letters, digits and `_`, not starting with a digit",
            ),
            (
                "env-file-syntax.env",
                4,
                3,
                "unterminated single quote: add a closing `'`",
            ),
        ],
    ),
    (
        "health-bad-url.yaml",
        &[
            (
                "health-bad-url.yaml",
                5,
                21,
                "services.api.health.http: invalid URL `127.0.0.1:8000/health`: it must start with `http://` or `https://`, e.g. `http://127.0.0.1:${port}/health`",
            ),
            (
                "health-bad-url.yaml",
                8,
                21,
                "services.web.health.http: invalid URL `https://localhost:99999/`: `99999` is not a port from 1 to 65535",
            ),
        ],
    ),
    (
        "health-no-probe.yaml",
        &[(
            "health-no-probe.yaml",
            4,
            13,
            "services.api.health: needs one probe: `http: URL`, `tcp: HOST:PORT` or `exec: COMMAND`",
        )],
    ),
    (
        "health-status-on-tcp.yaml",
        &[(
            "health-status-on-tcp.yaml",
            5,
            41,
            "services.api.health: `status` applies to `http` probes only",
        )],
    ),
    (
        "health-tcp-no-port.yaml",
        &[(
            "health-tcp-no-port.yaml",
            4,
            20,
            "services.api.health.tcp: `localhost` needs a port: write HOST:PORT, e.g. `127.0.0.1:${port}`",
        )],
    ),
    (
        "health-two-probes.yaml",
        &[(
            "health-two-probes.yaml",
            7,
            7,
            "services.api.health: has both `http` and `exec`; keep one probe",
        )],
    ),
    (
        "include-bad-entries.yaml",
        &[
            (
                "include-bad-entries.yaml",
                2,
                5,
                "include: expected a path or a glob such as `services/*.yaml`, found a mapping",
            ),
            (
                "include-bad-entries.yaml",
                3,
                5,
                "include: `include` is a directory; include its files with a glob, e.g. `include/*.yaml`",
            ),
            (
                "include-bad-entries.yaml",
                4,
                5,
                "include: bad glob `include/[dup.yaml`: unclosed character class; missing ']'",
            ),
            (
                "include-bad-entries.yaml",
                5,
                5,
                "include cycle: tests/fixtures/invalid/include-bad-entries.yaml → tests/fixtures/invalid/include-bad-entries.yaml; a file cannot include itself, even through others",
            ),
        ],
    ),
    (
        "include-cycle.yaml",
        &[(
            "include/cycle-b.yaml",
            5,
            5,
            "include cycle: tests/fixtures/invalid/include/cycle-a.yaml → tests/fixtures/invalid/include/cycle-b.yaml → tests/fixtures/invalid/include/cycle-a.yaml; a file cannot include itself, even through others",
        )],
    ),
    (
        "include-duplicate-service.yaml",
        &[
            (
                "include-duplicate-service.yaml",
                5,
                3,
                "service `db` is already defined at tests/fixtures/invalid/include/dup-a.yaml:2:3; define it in one file (changes of your own go in include-duplicate-service.override.yaml, which merges into it)",
            ),
            (
                "include/dup-b.yaml",
                4,
                3,
                "service `api` is already defined at tests/fixtures/invalid/include/dup-a.yaml:4:3; define it in one file (changes of your own go in include-duplicate-service.override.yaml, which merges into it)",
            ),
        ],
    ),
    (
        "include-error-in-included.yaml",
        &[
            (
                "include/bad-service.yaml",
                4,
                11,
                "services.api.port: port 70000 is out of range; use 1 to 65535",
            ),
            (
                "include/bad-service.yaml",
                5,
                5,
                "unknown key `restrat` in `services.api`; did you mean `restart`?",
            ),
            (
                "include/bad-service.yaml",
                6,
                3,
                "services.worker: missing `command`: what to run, e.g. `command: ./server --port ${port}`",
            ),
            (
                "include/bad-service.yaml",
                7,
                5,
                "unknown key `comand` in `services.worker`; did you mean `command`?",
            ),
        ],
    ),
    (
        "include-in-a-list.yaml",
        &[(
            "include/a-list.yaml",
            1,
            1,
            "a file merged into the config is a mapping of berth.yaml's keys, found a list",
        )],
    ),
    (
        "include-missing.yaml",
        &[(
            "include-missing.yaml",
            4,
            5,
            "include: `include/nope.yaml` not found (looked for tests/fixtures/invalid/include/nope.yaml); create it, or remove it from `include`",
        )],
    ),
    (
        "merge-non-mapping.yaml",
        &[
            (
                "merge-non-mapping.yaml",
                1,
                16,
                "`<<` merges mappings, found \"1\"; write `<<: *anchor` naming a mapping",
            ),
            (
                "merge-non-mapping.yaml",
                1,
                19,
                "`<<` merges mappings, found \"2\"; write `<<: *anchor` naming a mapping",
            ),
        ],
    ),
    (
        "missing-command.yaml",
        &[(
            "missing-command.yaml",
            2,
            3,
            "services.api: missing `command`: what to run, e.g. `command: ./server --port ${port}`",
        )],
    ),
    (
        "missing-services.yaml",
        &[(
            "missing-services.yaml",
            1,
            1,
            "missing `services`: say what to run, e.g. `services: {api: {command: ./api, port: 8000}}`",
        )],
    ),
    (
        "monitor-bad-values.yaml",
        &[
            (
                "monitor-bad-values.yaml",
                3,
                13,
                "monitor.interval: 2h is out of range; use 1s to 1h",
            ),
            (
                "monitor-bad-values.yaml",
                4,
                14,
                "monitor.retention: 30m is too short; use at least 1h",
            ),
            (
                "monitor-bad-values.yaml",
                5,
                13,
                "monitor.max_size: 512KiB is too small; use at least 1MiB",
            ),
            (
                "monitor-bad-values.yaml",
                6,
                10,
                "monitor.disks: expected a list, found \"/\"",
            ),
        ],
    ),
    (
        "monitor-disk-missing.yaml",
        &[
            (
                "monitor-disk-missing.yaml",
                4,
                7,
                "monitor.disks: `/nope` does not exist",
            ),
            (
                "monitor-disk-missing.yaml",
                5,
                7,
                "monitor.disks: `no-such-dir` does not exist (looked for tests/fixtures/invalid/no-such-dir)",
            ),
            (
                "monitor-disk-missing.yaml",
                7,
                7,
                "monitor.disks: `./` is listed twice",
            ),
        ],
    ),
    (
        "monitor-interval-zero.yaml",
        &[(
            "monitor-interval-zero.yaml",
            2,
            13,
            "monitor.interval: 0s is out of range; use 1s to 1h",
        )],
    ),
    (
        "monitor-retention-negative.yaml",
        &[(
            "monitor-retention-negative.yaml",
            2,
            14,
            "monitor.retention: -1d is negative; use at least 1h",
        )],
    ),
    (
        "not-a-mapping.yaml",
        &[(
            "not-a-mapping.yaml",
            1,
            1,
            "a berth config is a mapping with `services:` at the top, found a list",
        )],
    ),
    (
        "null-service.yaml",
        &[(
            "null-service.yaml",
            2,
            3,
            "services.api: missing `command`: what to run, e.g. `command: ./server --port ${port}`",
        )],
    ),
    (
        "override-error.yaml",
        &[
            (
                "override-error.override.yaml",
                4,
                5,
                "unknown key `start_timout` in `services.api`; did you mean `start_timeout`?",
            ),
            (
                "override-error.override.yaml",
                5,
                25,
                "services.api.health.interval: invalid duration `fast`; write a number with a unit: `500ms`, `5s`, `2m`, `1h`",
            ),
            (
                "override-error.override.yaml",
                6,
                3,
                "services.debug: missing `command`: what to run, e.g. `command: ./server --port ${port}`",
            ),
        ],
    ),
    (
        "override-syntax.yaml",
        &[(
            "override-syntax.override.yaml",
            4,
            6,
            "YAML syntax error: while parsing a flow mapping, did not find expected ',' or '}'; is the bracket opened on line 3 closed?",
        )],
    ),
    (
        "port-not-a-number.yaml",
        &[(
            "port-not-a-number.yaml",
            4,
            11,
            "services.api.port: expected a port number from 1 to 65535, found \"http\"",
        )],
    ),
    (
        "port-out-of-range.yaml",
        &[
            (
                "port-out-of-range.yaml",
                4,
                11,
                "services.api.port: port 70000 is out of range; use 1 to 65535",
            ),
            (
                "port-out-of-range.yaml",
                7,
                11,
                "services.db.port: port 0 is out of range; use 1 to 65535",
            ),
        ],
    ),
    (
        "port-reference-without-port.yaml",
        &[
            (
                "port-reference-without-port.yaml",
                3,
                30,
                "services.worker.command: `${port}`: service `worker` has no `port`; give it one or remove the reference",
            ),
            (
                "port-reference-without-port.yaml",
                5,
                29,
                "services.web.command: `${services.worker.port}`: service `worker` has no `port`; give it one or remove the reference",
            ),
        ],
    ),
    (
        "port-variable-collision.yaml",
        &[(
            "port-variable-collision.yaml",
            5,
            3,
            "services: `my_api` and `my-api` would both set BERTH_MY_API_PORT; rename one of them",
        )],
    ),
    (
        "profile-bad-value.yaml",
        &[(
            "profile-bad-value.yaml",
            4,
            29,
            "services.api.restart_delay: invalid duration `soon`; write a number with a unit: `500ms`, `5s`, `2m`, `1h` (with profile `prod`)",
        )],
    ),
    (
        "profile-unknown-key.yaml",
        &[(
            "profile-unknown-key.yaml",
            3,
            5,
            "unknown key `service` in `profiles.prod`; did you mean `services`?",
        )],
    ),
    (
        "profile-unknown-service.yaml",
        &[(
            "profile-unknown-service.yaml",
            4,
            7,
            "profiles.dev.services: no service `apii` to override; did you mean `api`?",
        )],
    ),
    (
        "replicas-keys.yaml",
        &[
            (
                "replicas-keys.yaml",
                4,
                15,
                "services.none.replicas: 0 instances: a service runs at least one; to keep it defined without starting it, use `autostart: false`",
            ),
            (
                "replicas-keys.yaml",
                7,
                15,
                "services.crowd.replicas: 1001 is out of range; use 1 to 1000",
            ),
            (
                "replicas-keys.yaml",
                9,
                14,
                "services.plain.command: `${replica}` is the instance's number, and this service has no `replicas`",
            ),
            (
                "replicas-keys.yaml",
                13,
                13,
                "services.probed.health: `${replica}` is the instance's number, and only `command`, `env` and `cwd` may use it",
            ),
            (
                "replicas-keys.yaml",
                16,
                15,
                "services.words.replicas: expected a whole number from 1 to 1000, found \"three\"",
            ),
        ],
    ),
    (
        "replicas-ports.yaml",
        &[
            (
                "replicas-ports.yaml",
                6,
                15,
                "services.pool.replicas: 3 instances need 3 ports, and `port` and `alt_ports` give 2 (9100, 9101); add ports to `alt_ports`",
            ),
            (
                "replicas-ports.yaml",
                7,
                3,
                "services: `pool.2` is the name of an instance of `pool`, which has `replicas`; rename it",
            ),
            (
                "replicas-ports.yaml",
                16,
                15,
                "services.api.replicas: instance `api.2` would be configured with port 9201, which `web` has; give `alt_ports` that no other service uses",
            ),
            (
                "replicas-ports.yaml",
                20,
                15,
                "services.cache.replicas: `cache.1` and `cache_1` would both set BERTH_CACHE_1_PORT; rename one of them",
            ),
        ],
    ),
    (
        "required-variable.yaml",
        &[(
            "required-variable.yaml",
            4,
            21,
            "services.api.env.SECRET: `BERTH_TEST_SECRET_UNSET` must be set: put it in .env",
        )],
    ),
    (
        "restart-delay-over-max.yaml",
        &[(
            "restart-delay-over-max.yaml",
            4,
            20,
            "services.api: restart_delay (1m) is longer than restart_delay_max (10s); raise restart_delay_max",
        )],
    ),
    (
        "services-as-list.yaml",
        &[(
            "services-as-list.yaml",
            2,
            3,
            "services: expected a mapping, found a list",
        )],
    ),
    (
        "unknown-health-key.yaml",
        &[(
            "unknown-health-key.yaml",
            7,
            7,
            "unknown key `intervall` in `services.api.health`; did you mean `interval`?",
        )],
    ),
    (
        "unknown-key-no-suggestion.yaml",
        &[(
            "unknown-key-no-suggestion.yaml",
            4,
            5,
            "unknown key `image` in `services.api`; expected one of: command, cwd, env, env_file, port, alt_ports, depends_on, health, ready_log, notify, start_timeout, restart, restart_delay, restart_delay_max, min_uptime, max_restarts, restart_window, success_codes, stop_signal, stop_timeout, stop_command, pidfile, match, critical, autostart, log, export, watch, replicas",
        )],
    ),
    (
        "unknown-service-key.yaml",
        &[
            (
                "unknown-service-key.yaml",
                2,
                3,
                "services.api: missing `command`: what to run, e.g. `command: ./server --port ${port}`",
            ),
            (
                "unknown-service-key.yaml",
                3,
                5,
                "unknown key `comand` in `services.api`; did you mean `command`?",
            ),
        ],
    ),
    (
        "unknown-service-reference.yaml",
        &[(
            "unknown-service-reference.yaml",
            7,
            35,
            "services.web.env.API: `${services.apii.port}` names no service `apii`; did you mean `api`?",
        )],
    ),
    (
        "unknown-top-key.yaml",
        &[(
            "unknown-top-key.yaml",
            2,
            1,
            "unknown top-level key `servces`; did you mean `services`?",
        )],
    ),
    (
        "unknown-variable.yaml",
        &[(
            "unknown-variable.yaml",
            3,
            28,
            "services.api.command: `${API_TOKEN_FOR_BERTH_TESTS}` is not set; set it in the environment or an env_file, or give a default: `${API_TOKEN_FOR_BERTH_TESTS:-value}`",
        )],
    ),
    (
        "unterminated-reference.yaml",
        &[(
            "unterminated-reference.yaml",
            3,
            27,
            "services.api.command: unterminated `${`: close it with `}`, or write `$$` for a literal `$`",
        )],
    ),
    (
        "wrong-type-bool.yaml",
        &[
            (
                "wrong-type-bool.yaml",
                4,
                16,
                "services.api.autostart: expected `true` or `false`, found \"yes\"",
            ),
            (
                "wrong-type-bool.yaml",
                5,
                15,
                "services.api.critical: expected `true` or `false`, found \"1\"",
            ),
        ],
    ),
    (
        "wrong-type-env.yaml",
        &[(
            "wrong-type-env.yaml",
            4,
            10,
            "services.api.env: expected a mapping, found a list",
        )],
    ),
    (
        "wrong-type-int.yaml",
        &[
            (
                "wrong-type-int.yaml",
                4,
                19,
                "services.api.max_restarts: expected a whole number from 0 to 10000, found \"many\"",
            ),
            (
                "wrong-type-int.yaml",
                5,
                24,
                "services.api.success_codes: 256 is out of range; use 0 to 255",
            ),
        ],
    ),
    (
        "yaml-bad-indent.yaml",
        &[(
            "yaml-bad-indent.yaml",
            4,
            4,
            "YAML syntax error: while parsing a block mapping, did not find expected key",
        )],
    ),
    (
        "yaml-duplicate-key.yaml",
        &[(
            "yaml-duplicate-key.yaml",
            5,
            5,
            "duplicate key `port` (first defined at line 4); remove one of them",
        )],
    ),
    (
        "yaml-duplicate-service.yaml",
        &[(
            "yaml-duplicate-service.yaml",
            6,
            3,
            "duplicate key `api` (first defined at line 2); remove one of them",
        )],
    ),
    (
        "yaml-flow-braces.yaml",
        &[(
            "yaml-flow-braces.yaml",
            2,
            47,
            "YAML syntax error: while parsing a flow mapping, did not find expected ',' or '}'; quote values that contain `${...}` inside `{ }` or `[ ]`",
        )],
    ),
    (
        "yaml-two-documents.yaml",
        &[(
            "yaml-two-documents.yaml",
            4,
            1,
            "a berth config holds one YAML document; remove this `---` and what follows, or merge it into the first",
        )],
    ),
    (
        "yaml-unclosed-flow.yaml",
        &[(
            "yaml-unclosed-flow.yaml",
            5,
            5,
            "YAML syntax error: illegal placement of ':' indicator; is the bracket opened on line 4 closed?",
        )],
    ),
    (
        "watch-missing-path.yaml",
        &[
            (
                "watch-missing-path.yaml",
                4,
                27,
                "services.api.watch: `no-such-dir` does not exist (relative to the service's `cwd`); create it or correct the path",
            ),
            (
                "watch-missing-path.yaml",
                4,
                42,
                "services.api.watch: `nowhere`, where `nowhere/**/*.py` starts, does not exist (relative to the service's `cwd`); create it or correct the path",
            ),
            (
                "watch-missing-path.yaml",
                4,
                61,
                "services.api.watch: invalid glob `src/[oops`: unclosed character class; missing ']'",
            ),
            (
                "watch-missing-path.yaml",
                9,
                14,
                "services.web.watch.paths: nothing to watch; list paths or globs, e.g. `watch: [\"src/**/*.py\"]`",
            ),
            (
                "watch-missing-path.yaml",
                10,
                17,
                "services.web.watch.debounce: invalid duration `soon`; write a number with a unit: `500ms`, `5s`, `2m`, `1h`",
            ),
            (
                "watch-missing-path.yaml",
                11,
                7,
                "unknown key `ignores` in `services.web.watch`; did you mean `ignore`?",
            ),
            (
                "watch-missing-path.yaml",
                14,
                12,
                "services.worker.watch: missing `paths`: what to watch, e.g. `paths: [\"src/**/*.py\"]`",
            ),
        ],
    ),
];

#[test]
fn every_broken_config_reports_exactly_its_problems() {
    let mut failures = Vec::new();
    for (name, expected) in CASES {
        let got: Vec<(String, usize, usize, String)> =
            match config::check(&fixture("invalid", name), &Options::default()) {
                Ok(_) => vec![],
                Err(LoadError::Invalid { diagnostics, .. }) => diagnostics
                    .into_iter()
                    .map(|d| {
                        // Relative to the corpus, so an included file keeps its folder.
                        let file = d
                            .file
                            .strip_prefix("tests/fixtures/invalid/")
                            .or_else(|| d.file.rsplit('/').next())
                            .unwrap_or_default()
                            .to_string();
                        (file, d.line, d.column, d.message)
                    })
                    .collect(),
                Err(e) => panic!("{name}: {e}"),
            };
        let want: Vec<(String, usize, usize, String)> = expected
            .iter()
            .map(|(f, l, c, m)| (f.to_string(), *l, *c, m.to_string()))
            .collect();
        if got != want {
            failures.push(format!("{name}:\n  want {want:#?}\n  got  {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_corpus_is_complete() {
    let on_disk = std::fs::read_dir(fixture("invalid", ""))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") && !n.ends_with(".override.yaml"))
        .count();
    assert_eq!(
        on_disk,
        CASES.len(),
        "every file in tests/fixtures/invalid has a row (an override file is its config's)"
    );
    let overrides: Vec<String> = std::fs::read_dir(fixture("invalid", ""))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| Some(n.strip_suffix(".override.yaml")?.to_string() + ".yaml"))
        .collect();
    assert!(!overrides.is_empty());
    for config in overrides {
        assert!(
            CASES.iter().any(|(n, _)| *n == config),
            "an override file without its config's row: {config}"
        );
    }
    assert!(CASES.len() >= 30);
    assert!(CASES.iter().all(|(_, problems)| !problems.is_empty()));
}

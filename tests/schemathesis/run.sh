#!/usr/bin/env bash
# The API against its own OpenAPI document: builds berth, brings up a small stack whose API
# listens on TCP (127.0.0.1, a free port, a token of its own), checks the document with
# openapi-spec-validator, then lets schemathesis send what the document allows (and what it
# does not) over TCP with the token: no answer may be a 5xx, and every answer's status,
# content type and body must be those the document gives. Stops only what it started.
#
# Needs `schemathesis` and `openapi-spec-validator` on PATH (or in $VENV/bin); .ci/run
# installs them. SCHEMATHESIS_MAX_EXAMPLES sets the cases per operation (default 60); the
# arguments are given to `schemathesis run` (`--report har --report-dir DIR`).
# KEEP=1 leaves the stack running and its directory in place, for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${VENV:-target/api-venv}"
if [ -d "$VENV/bin" ]; then
  PATH="$PWD/$VENV/bin:$PATH"
fi

cargo build --locked --quiet --bin berth --example test-service
berth="$PWD/target/debug/berth"
service="$PWD/target/debug/examples/test-service"

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-schemathesis.XXXXXX")"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
api_port="$(free_port)"
token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# Two services (one depends on the other), one rule: enough for every route to have
# something to answer with.
cat >"$work/berth.yaml" <<EOF
monitor:
  interval: 1s
api:
  listen: 127.0.0.1:$api_port
  token: $token
alerts:
  rules:
    - name: web-down
      when: health == unhealthy
      for: 1m
      services: [web]
services:
  web:
    command: ["$service", "--log-requests"]
    port: $(free_port)
  worker:
    command: ["$service", "--no-listen"]
    depends_on: [web]
EOF

finish() {
  local code=$?
  # `down --force` stops this stack's services and its daemon: only what this script started.
  [ -n "${KEEP:-}" ] || (cd "$work" && "$berth" down --force >/dev/null 2>&1) || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
  exit "$code"
}
trap finish EXIT

(cd "$work" && "$berth" up --timeout 30s)

base="http://127.0.0.1:$api_port"
auth="Authorization: Bearer $token"
curl -sf -H "$auth" "$base/v1/openapi.json" -o "$work/openapi.json"
echo "-- openapi-spec-validator"
openapi-spec-validator "$work/openapi.json"

# What schemathesis is given: the document less what cannot be tested by sending requests
# and reading whole answers, each left out for a reason:
# - `follow` (logs, events): `follow=1` keeps the answer open until the client goes away,
#   so a case would wait for its timeout; those answers are tested in tests/it.
# - `GET /v1/stream`: Server-Sent Events, open until the client goes away (tests/it reads
#   it and checks each event against the document).
# - `POST /v1/daemon/stop`: the daemon would leave in the middle of the run.
# - `POST /v1/down`: `{"services": []}` stops the whole stack in the middle of the run.
python3 - "$work/openapi.json" "$work/tested.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
del doc["paths"]["/v1/stream"]
del doc["paths"]["/v1/daemon/stop"]
del doc["paths"]["/v1/down"]
for item in doc["paths"].values():
    for operation in item.values():
        params = operation.get("parameters")
        if params:
            operation["parameters"] = [p for p in params if p["name"] != "follow"]
json.dump(doc, open(sys.argv[2], "w"))
EOF

# The names of this stack, so that a good share of the cases reach a service or the rule
# (schemathesis reads the services' names from the answers too, for the path's `{name}`).
cat >"$work/schemathesis.toml" <<'TOML'
[dictionaries.services]
values = ["web", "worker"]

[dictionaries.rules]
values = ["web-down"]

[parameters]
"query.service" = { dictionary = "services", probability = 0.5 }
"body.service" = { dictionary = "services", probability = 0.5 }
"body.rule" = { dictionary = "rules", probability = 0.5 }
TOML

echo "-- schemathesis"
# Run from the work dir: schemathesis keeps a `.schemathesis/` there.
# One worker: the daemon is one process on two cores, and Python 3.11's `ast` (which
# hypothesis uses to describe its filters) is not safe across schemathesis' threads.
cd "$work"
schemathesis --config-file "$work/schemathesis.toml" run "$work/tested.json" \
  --url "$base" \
  --header "$auth" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-60}" \
  --request-timeout 30 \
  --workers 1 \
  --seed 1 \
  --generation-database none \
  --no-color \
  "$@"

# The daemon is still serving, and the stack still works: schemathesis stops, starts and
# restarts the services by the names it reads from the answers (as it should: they are
# routes of the API), so a start of `worker` (and `web`, which it depends on) must bring
# both back (asked again while a stop the run asked for is still under way: a 409).
for _ in $(seq 100); do
  states="$(curl -sf -H "$auth" "$base/v1/status" | python3 -c '
import json, sys
print(" ".join(sorted(s["name"] + "=" + s["state"] for s in json.load(sys.stdin)["services"])))')"
  [ "$states" = "web=running worker=running" ] && break
  curl -s -o /dev/null -X POST -H "$auth" "$base/v1/services/worker/start" || true
  sleep 0.2
done
echo "after the run: $states"
[ "$states" = "web=running worker=running" ]

"""Drives `berth mcp` with the official MCP Python SDK, as an agent would: initialize, list the
tools, call each against a real small stack, and the error cases. Started by tests/it/mcp.rs:

    client.py BERTH PROJECT_DIR WEB_PORT FREE_PORT BROKEN_DIR

Exits non-zero (with the failed check on stderr) if anything is not as documented in
docs/agents.md."""

import asyncio
import sys

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

BERTH, PROJECT, WEB_PORT, FREE_PORT, BROKEN_DIR = sys.argv[1:6]
WEB_PORT, FREE_PORT = int(WEB_PORT), int(FREE_PORT)
TOOLS = ["status", "ensure", "up", "down", "restart", "logs", "events", "stats", "ports_who"]


def check(condition, what, detail=None):
    if not condition:
        raise AssertionError(f"{what}: {detail!r}" if detail is not None else what)


def text(result):
    return "".join(c.text for c in result.content if c.type == "text")


async def call(session, name, arguments=None, error=False):
    """Calls a tool; checks it succeeded (or, with error=True, that it is an error result)."""
    result = await session.call_tool(name, arguments or {})
    if error:
        check(result.is_error, f"{name} {arguments} is an error result", text(result))
        check(result.structured_content is None, f"{name} error has no JSON")
    else:
        check(not result.is_error, f"{name} {arguments} succeeds", text(result))
        check(text(result).strip() != "", f"{name} has a text result")
        check(isinstance(result.structured_content, dict), f"{name} has JSON", result)
    return result


def service(result, name):
    rows = [s for s in result.structured_content["services"] if s["name"] == name]
    check(len(rows) == 1, f"one row for {name}", result.structured_content)
    return rows[0]


async def session_for(args, cwd, run):
    params = StdioServerParameters(command=BERTH, args=args, cwd=cwd, env={"NO_COLOR": "1"})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check(init.server_info.name == "berth", "server name", init.server_info)
            await run(session)


async def schemas(session):
    listed = await session.list_tools()
    names = [t.name for t in listed.tools]
    check(names == TOOLS, "the tools", names)
    for tool in listed.tools:
        check(len(tool.description or "") > 150, f"{tool.name} is described", tool.description)
        schema = tool.input_schema
        check(schema.get("type") == "object", f"{tool.name} takes an object", schema)
        check(schema.get("additionalProperties") is False, f"{tool.name} refuses unknown keys")
        props = schema.get("properties", {})
        for key, spec in props.items():
            check(spec.get("description"), f"{tool.name}.{key} is described", spec)
        if tool.name != "ports_who":
            check(props["services"]["type"] == "array", f"{tool.name}.services", props)
            check(props["services"]["items"]["type"] == "string", f"{tool.name}.services[]")
            check("services" not in schema.get("required", []), f"{tool.name}.services optional")
    by_name = {t.name: t.input_schema["properties"] for t in listed.tools}
    for name in ["logs", "events"]:
        check({"lines", "since"} <= by_name[name].keys(), f"{name} has lines and since")
        check(by_name[name]["lines"]["minimum"] == 1, f"{name}.lines minimum", by_name[name])
    check("since" in by_name["stats"], "stats has since")
    ports = [t for t in listed.tools if t.name == "ports_who"][0].input_schema
    check(ports["required"] == ["port"], "port is required", ports)
    check(ports["properties"]["port"]["maximum"] == 65535, "port maximum", ports)


async def stack(session):
    await schemas(session)

    status = await call(session, "status")
    check([s["name"] for s in status.structured_content["services"]] == ["web", "worker", "broken"],
          "status lists every service", status.structured_content)
    check(service(status, "web")["state"] == "stopped", "web is stopped at first")

    ensured = await call(session, "ensure", {"services": ["worker"]})
    check(service(ensured, "worker")["state"] == "running", "ensure starts worker", ensured)
    check("ready: worker" in text(ensured), "ensure says what is ready", text(ensured))

    up = await call(session, "up", {"timeout": "30s"})
    web = service(up, "web")
    check(web["state"] == "running" and web["port"] == WEB_PORT, "up starts web on its port", web)
    check([s["name"] for s in up.structured_content["services"]] == ["web", "worker", "broken"],
          "up's status has every service", up.structured_content)
    status = await call(session, "status", {"services": ["web"]})
    check(len(status.structured_content["services"]) == 1, "status of one service")
    check("web" in text(status) and "running" in text(status), "status text", text(status))

    logs = await call(session, "logs", {"services": ["web"], "lines": 20})
    lines = logs.structured_content["lines"]
    check(any(f"listening on {WEB_PORT}" in l["text"] for l in lines), "web's log", lines)
    check(all(l["service"] == "web" and l["stream"] in ("out", "err", "berth") for l in lines),
          "log lines say whose and which stream", lines)
    check(f"listening on {WEB_PORT}" in text(logs), "log text", text(logs))
    recent = await call(session, "logs", {"since": "10m", "lines": 1})
    check(len(recent.structured_content["lines"]) == 1, "lines limits", recent.structured_content)

    # The daemon writes its history in batches: the events come within a few seconds.
    for _ in range(100):
        events = await call(session, "events", {"services": ["web"], "lines": 50, "since": "1h"})
        kinds = [e["kind"] for e in events.structured_content["events"]]
        if "ready" in kinds:
            break
        await asyncio.sleep(0.1)
    check("started" in kinds and "ready" in kinds, "web's events", kinds)
    check(all(e["service"] == "web" for e in events.structured_content["events"]), "only web's")
    check("ready" in text(events), "events text", text(events))

    stats = await call(session, "stats", {"since": "5m"})
    check(isinstance(stats.structured_content.get("services"), list), "stats figures",
          stats.structured_content)

    held = await call(session, "ports_who", {"port": WEB_PORT})
    check(held.structured_content["free"] is False, "web's port is held", held.structured_content)
    holders = held.structured_content["holders"]
    check(any(h.get("service") == "web" for h in holders), "held by berth's web", holders)
    check(f"port {WEB_PORT}" in text(held), "ports_who text", text(held))
    free = await call(session, "ports_who", {"port": FREE_PORT})
    check(free.structured_content == {"port": FREE_PORT, "free": True, "holders": []},
          "a free port is free, not an error", free.structured_content)

    before = service(status, "web")["pid"]
    restarted = await call(session, "restart", {"services": ["web"]})
    after = service(restarted, "web")
    check(after["state"] == "running" and after["pid"] != before, "restart: a new web", after)

    # Errors: results marked as errors, with what a model needs to correct itself.
    wrong = await call(session, "status", {"services": ["wbe"]}, error=True)
    check("did you mean `web`" in text(wrong), "a did-you-mean", text(wrong))
    for name, arguments, says in [
        ("logs", {"lines": "many"}, "bad arguments"),
        ("logs", {"lines": -1}, "bad arguments"),
        ("events", {"since": "soon"}, "bad `since`"),
        ("stats", {"since": 5}, "bad arguments"),
        ("ports_who", {"port": 70000}, "bad arguments"),
        ("ports_who", {"port": 0}, "bad `port`"),
        ("ports_who", {}, "missing field `port`"),
        ("status", {"services": "web"}, "bad arguments"),
        ("status", {"servces": ["web"]}, "unknown field `servces`"),
        ("up", {"timeout": "forever"}, "bad `timeout`"),
        ("down", {"services": ["nope"]}, "no service `nope`"),
    ]:
        result = await call(session, name, arguments, error=True)
        check(says in text(result), f"{name} {arguments} says {says!r}", text(result))
    failed = await call(session, "up", {"services": ["broken"], "timeout": "20s"}, error=True)
    check("broken failed" in text(failed), "a failed start says so", text(failed))
    check(
        "last lines of broken's log:" in text(failed)
        and "run `berth up broken` again" in text(failed),
        "with the failed service's own log and what to run next",
        text(failed),
    )
    try:
        await session.call_tool("no_such_tool", {})
        raise AssertionError("an unknown tool is refused")
    except MCPError as e:
        check("no_such_tool" in str(e), "the unknown tool is named", str(e))

    # Still serving after all of that.
    down = await call(session, "down")
    check({"web", "worker"} <= set(down.structured_content["stopped"]), "down stops all",
          down.structured_content)
    status = await call(session, "status")
    check(all(s["state"] != "running" for s in status.structured_content["services"]),
          "nothing runs after down", status.structured_content)


async def named_with_dash_f(session):
    status = await call(session, "status")
    check(len(status.structured_content["services"]) == 3, "-f names the config")


async def no_daemon_possible(session):
    result = await call(session, "ensure", {"timeout": "10s"}, error=True)
    check(".berth" in text(result), "why the daemon cannot start", text(result))
    status = await call(session, "status", {"services": ["api"]})
    check(service(status, "api")["state"] == "stopped", "status still answers")


async def main():
    await asyncio.wait_for(session_for(["mcp"], PROJECT, stack), 180)
    config = f"{PROJECT}/berth.yaml"
    await asyncio.wait_for(session_for(["mcp", "-f", config], "/", named_with_dash_f), 60)
    await asyncio.wait_for(session_for(["mcp"], BROKEN_DIR, no_daemon_possible), 60)
    print("mcp client: all checks passed")


asyncio.run(main())

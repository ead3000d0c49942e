//! Decoding `health`: exactly one probe (`http`, `tcp` or `exec`) and its pacing.

use crate::config::interpolate::Scope;
use crate::config::keys;
use crate::config::reader::Reader;
use crate::config::yaml::Node;
use crate::stack::health::{Health, Probe, default_status};
use crate::stack::service::defaults;
use crate::stack::template::Template;
use std::collections::BTreeMap;

pub fn decode(
    r: &mut Reader,
    node: &Node,
    path: &str,
    scope: &Scope,
    ports: &BTreeMap<String, Option<u16>>,
) -> Option<Health> {
    let fields = r.map(node, path, keys::HEALTH)?;
    let p = |k: &str| format!("{path}.{k}");
    let probes: Vec<(&str, &Node, &Node)> = fields
        .iter()
        .filter(|(k, _, _)| Probe::KINDS.contains(k))
        .collect();
    let configured = |name: &str| ports.get(name).copied().flatten();

    let probe = match probes.as_slice() {
        [] => {
            r.error(
                node.span,
                format!(
                    "{path}: needs one probe: `http: URL`, `tcp: HOST:PORT` or `exec: COMMAND`"
                ),
            );
            None
        }
        [(kind, _, value)] => match *kind {
            "http" => {
                let url = r.template(value, &p("http"), scope);
                let url = url.filter(|t| check_url(r, value, &p("http"), t, &configured));
                let status = match fields.get("status") {
                    Some(n) => r.ranges(n, &p("status"), 100, 599),
                    None => Some(default_status()),
                };
                url.zip(status)
                    .map(|(url, status)| Probe::Http { url, status })
            }
            "tcp" => r
                .template(value, &p("tcp"), scope)
                .filter(|t| check_address(r, value, &p("tcp"), t, &configured))
                .map(|address| Probe::Tcp { address }),
            _ => r
                .command(value, &p("exec"), scope)
                .map(|command| Probe::Exec { command }),
        },
        [(first, _, _), (second, key, _), ..] => {
            r.error(
                key.span,
                format!("{path}: has both `{first}` and `{second}`; keep one probe"),
            );
            None
        }
    };
    if let Some((k, _)) = fields.entry("status")
        && probes.len() == 1
        && probes[0].0 != "http"
    {
        r.error(
            k.span,
            format!("{path}: `status` applies to `http` probes only"),
        );
    }
    let interval = r.key_or(
        &fields,
        path,
        "interval",
        defaults::HEALTH_INTERVAL,
        Reader::positive_duration,
    );
    let timeout = r.key_or(
        &fields,
        path,
        "timeout",
        defaults::HEALTH_TIMEOUT,
        Reader::positive_duration,
    );
    let retries = r.key_or(
        &fields,
        path,
        "retries",
        defaults::HEALTH_RETRIES,
        |r, n, p| r.int(n, p, 1, 1000).map(|n| n as u32),
    );
    Some(Health {
        probe: probe?,
        interval: interval?,
        timeout: timeout?,
        retries: retries?,
    })
}

/// An `http://` or `https://HOST[:PORT]/...` URL once configured ports are filled in.
fn check_url(
    r: &mut Reader,
    node: &Node,
    path: &str,
    url: &Template,
    port_of: &dyn Fn(&str) -> Option<u16>,
) -> bool {
    let text = url.render(port_of);
    let scheme = [("http://", 80), ("https://", 443)]
        .into_iter()
        .find_map(|(prefix, port)| Some((text.strip_prefix(prefix)?, port)));
    let problem = if let Some((rest, default_port)) = scheme {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        match host_port(authority, default_port) {
            Ok(_) => None,
            Err(e) => Some(format!("invalid URL `{text}`: {e}")),
        }
    } else {
        Some(format!(
            "invalid URL `{text}`: it must start with `http://` or `https://`, e.g. `http://127.0.0.1:${{port}}/health`"
        ))
    };
    match problem {
        Some(message) => {
            r.error(node.span, format!("{path}: {message}"));
            false
        }
        None => true,
    }
}

/// A `HOST:PORT` address once configured ports are filled in.
fn check_address(
    r: &mut Reader,
    node: &Node,
    path: &str,
    address: &Template,
    port_of: &dyn Fn(&str) -> Option<u16>,
) -> bool {
    let text = address.render(port_of);
    if !text.contains(':') || text.ends_with(']') {
        r.error(
            node.span,
            format!("{path}: `{text}` needs a port: write HOST:PORT, e.g. `127.0.0.1:${{port}}`"),
        );
        return false;
    }
    match host_port(&text, 0) {
        Ok(_) => true,
        Err(e) => {
            r.error(node.span, format!("{path}: invalid address `{text}`: {e}"));
            false
        }
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; `default_port` 0 means a port is required.
fn host_port(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("unclosed `[` in an IPv6 address")?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("no host".to_string());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{p}` is not a port from 1 to 65535"))?,
        None if default_port > 0 => default_port,
        None => return Err("no port".to_string()),
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port_forms() {
        assert_eq!(host_port("127.0.0.1:80", 0), Ok(("127.0.0.1".into(), 80)));
        assert_eq!(host_port("[::1]:8080", 0), Ok(("::1".into(), 8080)));
        assert_eq!(host_port("localhost", 80), Ok(("localhost".into(), 80)));
        assert!(host_port("localhost", 0).is_err());
        assert!(host_port(":80", 0).is_err());
        assert!(host_port("h:70000", 0).is_err());
        assert!(host_port("[::1", 0).is_err());
    }
}

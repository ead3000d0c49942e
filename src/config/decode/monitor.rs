//! Decoding the `monitor:` section (sampling and history) and the `api:` section (the API on
//! TCP and who may use it), with their defaults and limits.

use crate::config::interpolate::Scope;
use crate::config::keys;
use crate::config::reader::{Reader, at};
use crate::config::source::display_path;
use crate::config::units::format_size;
use crate::config::yaml::{Kind, Node};
use crate::stack::{ApiConfig, Monitor};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Sampling faster than once a second costs the daemon more than it tells anyone; slower
/// than once an hour leaves nothing to roll up into the one-minute history.
const INTERVAL_MIN: Duration = Duration::from_secs(1);
const INTERVAL_MAX: Duration = Duration::from_secs(3600);
/// Rollups are kept for `retention`; raw samples for a day. Less than an hour keeps nothing
/// worth a database.
const RETENTION_MIN: Duration = Duration::from_secs(3600);
/// Below this the history database would mostly be its own schema and indexes.
const MAX_SIZE_MIN: u64 = 1 << 20;
/// A bearer token shorter than this is guessable; 16 characters is the floor, the generated
/// one has 64.
pub const TOKEN_MIN_CHARS: usize = 16;

pub fn monitor(r: &mut Reader, node: &Node) -> Option<Monitor> {
    let path = "monitor";
    let fields = r.map(node, path, keys::MONITOR)?;
    let defaults = Monitor::default();
    let interval = r.key_or(&fields, path, "interval", defaults.interval, |r, n, p| {
        duration_within(r, n, p, INTERVAL_MIN, Some(INTERVAL_MAX))
    });
    let retention = r.key_or(&fields, path, "retention", defaults.retention, |r, n, p| {
        duration_within(r, n, p, RETENTION_MIN, None)
    });
    let max_size = r.key_or(&fields, path, "max_size", defaults.max_size, |r, n, p| {
        let size = r.size(n, p)?;
        if size < MAX_SIZE_MIN {
            r.error(
                n.span,
                at(
                    p,
                    format!(
                        "{} is too small; use at least {}",
                        written(n),
                        format_size(MAX_SIZE_MIN)
                    ),
                ),
            );
            return None;
        }
        Some(size)
    });
    let disks = r.key_or(&fields, path, "disks", defaults.disks, disks);
    Some(Monitor {
        interval: interval?,
        retention: retention?,
        max_size: max_size?,
        disks: disks?,
    })
}

/// The value as the user wrote it, for messages.
fn written(node: &Node) -> &str {
    node.scalar().map(str::trim).unwrap_or_default()
}

/// A duration of at least `min` and, when given, at most `max`.
fn duration_within(
    r: &mut Reader,
    node: &Node,
    path: &str,
    min: Duration,
    max: Option<Duration>,
) -> Option<Duration> {
    use crate::config::units::{format_duration, parse_duration};
    let text = written(node);
    let range = match max {
        Some(max) => format!("use {} to {}", format_duration(min), format_duration(max)),
        None => format!("use at least {}", format_duration(min)),
    };
    // The duration parser knows no sign, so `-1d` would otherwise be called malformed when
    // the mistake is the sign.
    if let Some(magnitude) = text.strip_prefix('-')
        && parse_duration(magnitude).is_ok()
    {
        r.error(node.span, at(path, format!("{text} is negative; {range}")));
        return None;
    }
    let d = r.duration(node, path)?;
    if d < min || max.is_some_and(|max| d > max) {
        let what = if max.is_some() {
            "is out of range"
        } else {
            "is too short"
        };
        r.error(node.span, at(path, format!("{text} {what}; {range}")));
        return None;
    }
    Some(d)
}

/// `disks`: paths (relative to the directory of the file they are written in) that must
/// exist now, so that a typo is found by `check` rather than as a gap in the history.
fn disks(r: &mut Reader, node: &Node, path: &str) -> Option<Vec<PathBuf>> {
    let items = r.list(node, path)?;
    let mut out: Vec<PathBuf> = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(text) = r.string(item, path) else {
            ok = false;
            continue;
        };
        if text.is_empty() {
            r.error(
                item.span,
                at(path, "empty path; write `/` for the root file system"),
            );
            ok = false;
            continue;
        }
        // `components` drops `.` segments, so `.` and `./` name the same disk as the dir.
        let full: PathBuf = r.dir(item.span).join(text).components().collect();
        let looked_for = if Path::new(text).is_absolute() {
            String::new()
        } else {
            format!(" (looked for {})", display_path(&full))
        };
        match std::fs::metadata(&full) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                r.error(
                    item.span,
                    at(path, format!("`{text}` does not exist{looked_for}")),
                );
                ok = false;
                continue;
            }
            Err(e) => {
                r.error(
                    item.span,
                    at(path, format!("cannot use `{text}`{looked_for}: {e}")),
                );
                ok = false;
                continue;
            }
        }
        // One disk twice would be two series with the same labels in /metrics.
        if out.contains(&full) {
            r.error(item.span, at(path, format!("`{text}` is listed twice")));
            ok = false;
            continue;
        }
        out.push(full);
    }
    ok.then_some(out)
}

/// `api`. `vars` is where `${VAR}` in `token` is looked up (top-level env files, then the
/// environment); `root_services` is the `services` mapping, only so that a port reference in
/// the token gets an accurate message.
pub fn api(
    r: &mut Reader,
    node: &Node,
    vars: &[&BTreeMap<String, String>],
    root_services: Option<&Node>,
) -> Option<ApiConfig> {
    let path = "api";
    let fields = r.map(node, path, keys::API)?;
    let allow_remote = r.key_or(&fields, path, "allow_remote", false, Reader::bool);
    let metrics_without_token =
        r.key_or(&fields, path, "metrics_without_token", false, Reader::bool);
    let listen = match fields.get("listen") {
        Some(n) => listen(r, n, "api.listen", allow_remote).map(Some),
        None => Some(None),
    };
    let token = match fields.get("token") {
        Some(n) => {
            let ports = configured_ports(root_services);
            let scope = Scope {
                service: None,
                ports: &ports,
                vars,
            };
            token(r, n, "api.token", &scope).map(Some)
        }
        None => Some(None),
    };
    Some(ApiConfig {
        listen: listen?,
        token: token?,
        metrics_without_token: metrics_without_token?,
        allow_remote: allow_remote?,
    })
}

/// `listen`, and the refusal of a network-reachable address unless `allow_remote` says so
/// (`None` when `allow_remote` itself is wrong: that is reported already).
fn listen(
    r: &mut Reader,
    node: &Node,
    path: &str,
    allow_remote: Option<bool>,
) -> Option<SocketAddr> {
    let text = r.string(node, path)?.trim();
    let addr = match parse_listen(text) {
        Ok(addr) => addr,
        Err(message) => {
            r.error(node.span, at(path, message));
            return None;
        }
    };
    if !is_loopback(addr.ip()) && allow_remote == Some(false) {
        r.error(
            node.span,
            at(
                path,
                format!(
                    "{text} is not a loopback address, so the API would be reachable from the network; set `allow_remote: true` to allow that, or listen on 127.0.0.1"
                ),
            ),
        );
        return None;
    }
    Some(addr)
}

/// 127.0.0.0/8 and ::1, also written as an IPv4-mapped IPv6 address.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// `HOST:PORT` with HOST an IPv4 address, an IPv6 address in brackets, or `localhost`
/// (127.0.0.1). Names other than `localhost` are refused: resolving them at load time would
/// make the config mean different things on different networks, and the API's `Host` check
/// needs the very address it listens on.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    let example = "write HOST:PORT with an IP address or `localhost`, like `127.0.0.1:9400`";
    if t.is_empty() {
        return Err(format!("empty address; {example}"));
    }
    let (ip, port) = if let Some(rest) = t.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("`{t}`: `[` is not closed; write `[::1]:9400`"));
        };
        let Ok(ip) = host.parse::<Ipv6Addr>() else {
            return Err(format!(
                "`{host}` is not an IPv6 address; write one in brackets, like `[::1]:9400`"
            ));
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(format!("`{t}` has no port; write `[{host}]:9400`"));
        };
        (IpAddr::V6(ip), port)
    } else {
        let Some((host, port)) = t.rsplit_once(':') else {
            return Err(if t.bytes().all(|b| b.is_ascii_digit()) {
                format!("`{t}` has no host; write `127.0.0.1:{t}`")
            } else {
                format!("`{t}` has no port; {example}")
            });
        };
        if host.contains(':') {
            return Err(format!(
                "`{t}`: write an IPv6 address in brackets, like `[::1]:9400`"
            ));
        }
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else if host.is_empty() {
            return Err(format!("`{t}` has no host; write `127.0.0.1{t}`"));
        } else {
            match host.parse::<Ipv4Addr>() {
                Ok(ip) => IpAddr::V4(ip),
                Err(_) => {
                    return Err(format!(
                        "`{host}` is not an IP address; use an address like 127.0.0.1, or `localhost`"
                    ));
                }
            }
        };
        (ip, port)
    };
    if port.is_empty() {
        return Err(format!("`{t}` has no port; {example}"));
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{port}` is not a port number; use 1 to 65535"));
    }
    match port.parse::<u16>() {
        Ok(n) if n >= 1 => Ok(SocketAddr::new(ip, n)),
        _ => Err(format!("port {port} is out of range; use 1 to 65535")),
    }
}

/// Every service's port as far as it can be read without reporting anything (the services'
/// own decoding reports their problems), so that `${services.NAME.port}` in the token is
/// recognised as a port reference.
pub(super) fn configured_ports(services: Option<&Node>) -> BTreeMap<String, Option<u16>> {
    let Some(Node {
        kind: Kind::Map(entries),
        ..
    }) = services
    else {
        return BTreeMap::new();
    };
    entries
        .iter()
        .filter_map(|(name, service)| {
            let port = service
                .get("port")
                .and_then(Node::scalar)
                .and_then(|p| p.trim().parse::<u16>().ok());
            Some((name.scalar()?.to_string(), port))
        })
        .collect()
}

/// `token`, `${VAR}` resolved. Messages never show the token: it is a secret, and it may
/// have come from the environment.
fn token(r: &mut Reader, node: &Node, path: &str, scope: &Scope) -> Option<String> {
    let template = r.template(node, path, scope)?;
    if template.port_refs().next().is_some() {
        r.error(
            node.span,
            at(path, "a service's port cannot be part of the token"),
        );
        return None;
    }
    let text = template.render(&|_| None);
    let problem = if text.is_empty() {
        Some(
            "empty; leave `token` out to use the one berth generates into .berth/token".to_string(),
        )
    } else if text.chars().any(char::is_whitespace) {
        Some("contains whitespace; a bearer token is one word".to_string())
    } else if !text.bytes().all(|b| b.is_ascii_graphic()) {
        // An `Authorization` header carries visible ASCII; anything else cannot be sent.
        Some(
            "has a character that is not printable ASCII; use letters, digits and punctuation"
                .to_string(),
        )
    } else if text.chars().count() < TOKEN_MIN_CHARS {
        Some(format!(
            "too short ({} characters); use at least {TOKEN_MIN_CHARS}, e.g. the output of `openssl rand -hex 32`",
            text.chars().count()
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        r.error(node.span, at(path, problem));
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let ok = |t: &str| parse_listen(t).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:9400"), "127.0.0.1:9400");
        assert_eq!(ok("localhost:9400"), "127.0.0.1:9400");
        assert_eq!(ok("LOCALHOST:1"), "127.0.0.1:1");
        assert_eq!(ok("[::1]:9400"), "[::1]:9400");
        assert_eq!(ok("0.0.0.0:65535"), "0.0.0.0:65535");
        assert_eq!(ok(" 10.1.2.3:80 "), "10.1.2.3:80");
        for (text, message) in [
            ("", "empty address; write HOST:PORT"),
            ("9400", "`9400` has no host; write `127.0.0.1:9400`"),
            (":9400", "`:9400` has no host; write `127.0.0.1:9400`"),
            ("localhost", "`localhost` has no port"),
            ("example.com:9400", "`example.com` is not an IP address"),
            ("127.0.0.1:0", "port 0 is out of range; use 1 to 65535"),
            (
                "127.0.0.1:65536",
                "port 65536 is out of range; use 1 to 65535",
            ),
            ("127.0.0.1:http", "`http` is not a port number"),
            ("127.0.0.1:", "`127.0.0.1:` has no port"),
            ("127.0.0.1:-1", "`-1` is not a port number"),
            (
                "127.0.0.1:99999999999999999999999",
                "port 99999999999999999999999 is out of range",
            ),
            ("::1:9400", "write an IPv6 address in brackets"),
            ("[::1:9400", "`[` is not closed"),
            ("[::1]", "`[::1]` has no port"),
            ("[::1]9400", "`[::1]9400` has no port"),
            ("[127.0.0.1]:9400", "`127.0.0.1` is not an IPv6 address"),
            ("1.2.3:9400", "`1.2.3` is not an IP address"),
        ] {
            let got = parse_listen(text).unwrap_err();
            assert!(got.contains(message), "{text:?}: {got}");
        }
    }

    #[test]
    fn loopback_addresses() {
        for (ip, loopback) in [
            ("127.0.0.1", true),
            ("127.8.9.10", true),
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("0.0.0.0", false),
            ("::", false),
            ("10.0.0.1", false),
            ("::ffff:10.0.0.1", false),
        ] {
            assert_eq!(is_loopback(ip.parse().unwrap()), loopback, "{ip}");
        }
    }
}

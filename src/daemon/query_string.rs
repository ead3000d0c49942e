//! A request's query string as name/value pairs (percent-decoded, `+` as space), and the typed
//! readings of them the routes share: a duration, a whole number, each refused with a message
//! saying what was wrong, for a 400.

use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            query
                .unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// Replaces every value of `name` with `value`.
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.retain(|(k, _)| k != name);
        self.0.push((name.to_string(), value.to_string()));
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A duration (`15m`, `24h`), at most `max`.
    pub fn duration(&self, name: &str, max: Duration) -> Result<Option<Duration>, String> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let d = crate::config::units::parse_duration(text).map_err(|e| format!("{name}: {e}"))?;
        if d > max {
            return Err(format!(
                "{name}: {text} is longer than the {} allowed",
                crate::config::units::format_duration(max)
            ));
        }
        Ok(Some(d))
    }

    /// A whole number from `min` to `max`.
    pub fn number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "{name}: expected a whole number from {min} to {max}, got `{text}`"
            )),
        }
    }

    /// A flag: `1`/`true` on, `0`/`false` or absent off.
    pub fn flag(&self, name: &str) -> Result<bool, String> {
        match self.get(name) {
            None | Some("0" | "false") => Ok(false),
            Some("1" | "true" | "") => Ok(true),
            Some(other) => Err(format!("{name}: expected 1 or 0, got `{other}`")),
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pairs_decodes_and_checks_values() {
        let q = Query::parse(Some(
            "service=api%2E2&kind=ready&kind=failed&since=1h&n=x&f=1&odd=%zz%",
        ));
        assert_eq!(q.get("service"), Some("api.2"));
        assert_eq!(q.all("kind"), ["ready", "failed"]);
        assert_eq!(
            q.duration("since", Duration::from_secs(86_400)).unwrap(),
            Some(Duration::from_secs(3600))
        );
        assert!(
            q.duration("since", Duration::from_secs(60))
                .unwrap_err()
                .contains("longer")
        );
        assert!(q.number("n", 1, 10).unwrap_err().contains("`x`"));
        assert_eq!(q.number("missing", 1, 10).unwrap(), None);
        assert!(q.flag("f").unwrap());
        assert_eq!(q.get("odd"), Some("%zz%"));
        assert_eq!(Query::parse(None).get("x"), None);
    }
}

//! The dashboard's page: the files of `src/web/`, embedded in the binary at build time, at
//! `/` (index.html) and `/ui/{file}`; and the small HTML page a browser gets when it is
//! refused (no session, a used login link), which says what to do.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// What the page may load and talk to: its own files and its own API, nothing inline and
/// nothing from elsewhere (it works offline, and an injected script has nowhere to go).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Whether `path` is the page's (answered in HTML) rather than the API's (JSON).
pub fn is_page(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

/// `GET /`.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /ui/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

/// One embedded file by its name, with the headers every page file carries.
fn serve(name: &str) -> Response {
    let Ok(at) = WEB_FILES.binary_search_by(|(n, _)| (*n).cmp(name)) else {
        let message = match name {
            "index.html" => "the dashboard's page is not part of this build".to_string(),
            _ => format!("no file {name} in the dashboard"),
        };
        return refusal(StatusCode::NOT_FOUND, &message);
    };
    let (_, body) = WEB_FILES[at];
    let mut response = ([(header::CONTENT_TYPE, content_type(name))], body).into_response();
    guard_headers(response.headers_mut());
    // The files change with the binary only; `no-cache` revalidates, and they are small.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn guard_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A refusal a person reads in the browser: the status, and the message with what to do.
pub fn refusal(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Refused");
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>berth: {title}</title></head>\n<body><h1>{} {title}</h1>\n<p>{}</p>\n<p>Open the address <code>berth dashboard</code> prints to log in.</p></body></html>\n",
        status.as_u16(),
        escape(message)
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    guard_headers(response.headers_mut());
    response
}

/// The message as HTML text (it quotes paths and names the request gave).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_its_lookups() {
        assert!(WEB_FILES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn messages_are_escaped() {
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn file_types() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}

//! DNS-rebinding protection for every route: the `Host` a request names and the `Origin` a
//! browser adds must be ones the server trusts.
//!
//! A web page the user visits can make the browser send requests to `127.0.0.1` under the
//! page's own host name (DNS rebinding) or from its own origin. Checking only `/mcp` (as rmcp
//! does, inside its service) leaves `/status` telling such a page the data root and the
//! project names when auth is off. This layer answers 403 before any route runs, `/healthz`
//! included (it stays token-free, not check-free). The allow-lists are rmcp's: loopback plus
//! `settings.allowed_hosts` / `settings.allowed_origins` of config.yaml, matched the same way.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Origins a browser-based client (e.g. the MCP Inspector) may call from: loopback only.
pub(crate) const LOOPBACK_ORIGINS: [&str; 3] = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];
/// Host names the server answers to (any port): loopback only.
pub(crate) const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The hosts and origins requests may name.
#[derive(Debug, Clone)]
pub(crate) struct AllowList {
    hosts: Vec<Authority>,
    origins: Vec<AllowedOrigin>,
}

/// A host name (lowercase, without IPv6 brackets) and the port, if one is named.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    host: String,
    port: Option<u16>,
}

/// An allowed origin: scheme, host, and a port (`None` for `:*` or no port: any port).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedOrigin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl AllowList {
    /// Loopback plus the extra `hosts` and `origins` (entries that do not parse are ignored,
    /// as rmcp ignores them).
    pub(crate) fn new(hosts: impl IntoIterator<Item = String>, origins: impl IntoIterator<Item = String>) -> Self {
        AllowList {
            hosts: hosts.into_iter().filter_map(|h| parse_allowed_host(&h)).collect(),
            origins: origins.into_iter().filter_map(|o| parse_allowed_origin(&o)).collect(),
        }
    }

    /// Whether a request naming `host` (the `Host` header, else the URI's authority) may be
    /// served.
    fn host_allowed(&self, host: &Authority) -> bool {
        self.hosts.iter().any(|allowed| allowed.host == host.host && allowed.port.is_none_or(|p| host.port == Some(p)))
    }

    /// Whether a browser request from `origin` may be served.
    fn origin_allowed(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = parse_origin(origin) else { return false };
        let port = authority.port.or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        self.origins.iter().any(|allowed| {
            allowed.scheme == scheme && allowed.host == authority.host && allowed.port.is_none_or(|p| port == Some(p))
        })
    }

    /// Why a request may not be served, if it may not.
    fn refusal(&self, uri: &Uri, headers: &axum::http::HeaderMap) -> Option<&'static str> {
        let host = match headers.get(header::HOST) {
            Some(value) => value.to_str().ok().and_then(parse_authority),
            None => uri.authority().and_then(|a| parse_authority(a.as_str())),
        };
        match host {
            None => return Some("Forbidden: the Host header is missing or malformed"),
            Some(host) if !self.host_allowed(&host) => return Some("Forbidden: Host header is not allowed"),
            Some(_) => {}
        }
        match headers.get(header::ORIGIN).map(|v| v.to_str().map(|s| self.origin_allowed(s))) {
            None | Some(Ok(true)) => None,
            Some(_) => Some("Forbidden: Origin header is not allowed"),
        }
    }
}

/// Refuses with 403 any request naming a host or coming from an origin not on the lists.
pub(crate) async fn check_host_and_origin(
    State(allowed): State<Arc<AllowList>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(reason) = allowed.refusal(request.uri(), request.headers()) {
        tracing::warn!(
            host = ?request.headers().get(header::HOST),
            origin = ?request.headers().get(header::ORIGIN),
            path = %request.uri().path(),
            "refused a request for a foreign host or origin (possible DNS rebinding)"
        );
        let body = serde_json::json!({
            "error": reason,
            "detail": "worksync answers loopback names and origins only; add others to settings.allowed_hosts / settings.allowed_origins in config.yaml.",
        });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    next.run(request).await
}

/// `host[:port]`, `[v6][:port]`, lowercased, brackets dropped.
fn parse_authority(text: &str) -> Option<Authority> {
    let authority: axum::http::uri::Authority = text.trim().parse().ok()?;
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    Some(Authority { host, port: authority.port_u16() })
}

/// An allow-list host: an authority, or a bare IPv6 address such as `::1`.
fn parse_allowed_host(text: &str) -> Option<Authority> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    parse_authority(text).or_else(|| Some(Authority { host: text.to_ascii_lowercase(), port: None }))
}

/// `scheme://authority` of an `Origin` header (`null` and anything with a path do not parse).
fn parse_origin(text: &str) -> Option<(String, Authority)> {
    let uri: Uri = text.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = parse_authority(uri.authority()?.as_str())?;
    Some((scheme, authority))
}

/// An allow-list origin: `scheme://host:port`, `scheme://host:*` or `scheme://host`.
fn parse_allowed_origin(text: &str) -> Option<AllowedOrigin> {
    let text = text.trim();
    let (text, any_port) = match text.strip_suffix(":*") {
        Some(base) => (base, true),
        None => (text, false),
    };
    let (scheme, authority) = parse_origin(text)?;
    let port = if any_port { None } else { authority.port };
    Some(AllowedOrigin { scheme, host: authority.host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> AllowList {
        let hosts = LOOPBACK_HOSTS.iter().map(|h| h.to_string()).chain(["worksync.test:8443".to_string()]);
        let origins = LOOPBACK_ORIGINS.iter().map(|o| o.to_string()).chain(["https://dash.test".to_string()]);
        AllowList::new(hosts, origins)
    }

    fn refused(host: Option<&str>, origin: Option<&str>) -> bool {
        let mut headers = axum::http::HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, host.parse().unwrap());
        }
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        list().refusal(&Uri::from_static("/status"), &headers).is_some()
    }

    /// Loopback names on any port pass, in any case and with IPv6 brackets; an extra host with
    /// a port passes on that port only; other names and a missing Host are refused.
    #[test]
    fn hosts() {
        for ok in ["localhost", "LOCALHOST:8321", "127.0.0.1:1", "[::1]:8321", "worksync.test:8443"] {
            assert!(!refused(Some(ok), None), "{ok}");
        }
        for bad in ["evil.example", "127.0.0.1.evil.example", "worksync.test:80", "localhost.:8321"] {
            assert!(refused(Some(bad), None), "{bad}");
        }
        assert!(refused(None, None));
    }

    /// Loopback origins on any port and configured ones pass; `null`, other hosts, other
    /// schemes and look-alikes are refused; no Origin (not a browser) passes.
    #[test]
    fn origins() {
        for ok in ["http://localhost:6274", "http://127.0.0.1:3000", "http://[::1]:5173", "https://dash.test"] {
            assert!(!refused(Some("127.0.0.1"), Some(ok)), "{ok}");
        }
        for bad in ["null", "http://evil.example", "https://localhost:6274", "http://localhost.evil:1", "garbage"] {
            assert!(refused(Some("127.0.0.1"), Some(bad)), "{bad}");
        }
        assert!(!refused(Some("127.0.0.1"), None));
    }
}

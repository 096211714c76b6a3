//! Who may talk to the console. On loopback, any local program may (as with Jupyter's
//! loopback default), but only under a loopback `Host`: a web page elsewhere cannot reach it
//! by rebinding a name of its own to 127.0.0.1. On any other address, and on loopback with
//! `--token`, every request must carry the token: in the URL printed at start (`?token=`,
//! after which a cookie carries it), an `Authorization: token ...` header, or the cookie.
//! Requests that change nothing on the server but run queries (POST) must also come from the
//! console's own origin when the browser says where they come from.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;
use crate::server::AppState;

pub const COOKIE: &str = "trailsql_token";

/// A new random token: 24 bytes from the operating system, as hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    hex::encode(bytes)
}

/// Compare without stopping at the first difference, so timing does not reveal a prefix.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `127.0.0.1`, `127.x.y.z`, `localhost` or `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The token a request carries, and whether it came in the URL.
fn given_token(req: &Request) -> Option<(String, bool)> {
    if let Some(q) = req.uri().query() {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("token=") {
                return Some((v.to_owned(), true));
            }
        }
    }
    let headers = req.headers();
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let t = v
            .strip_prefix("token ")
            .or_else(|| v.strip_prefix("Bearer "))
            .unwrap_or(v);
        return Some((t.trim().to_owned(), false));
    }
    for cookies in headers.get_all(header::COOKIE) {
        for c in cookies.to_str().unwrap_or("").split(';') {
            if let Some(v) = c
                .trim()
                .strip_prefix(COOKIE)
                .and_then(|r| r.strip_prefix('='))
            {
                return Some((v.to_owned(), false));
            }
        }
    }
    None
}

fn refuse(req: &Request, status: StatusCode, message: String) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError::new(status, message).into_response()
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message,
        )
            .into_response()
    }
}

/// The middleware in front of every route.
pub async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if state.loopback && !is_loopback_host(&host) {
        let message = format!(
            "Host {host:?} is not this machine's loopback: the console answers at {}",
            state.url
        );
        return refuse(&req, StatusCode::FORBIDDEN, message);
    }
    if *req.method() != Method::GET && *req.method() != Method::HEAD {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok());
        if let Some(origin) = origin {
            let from = origin.split_once("://").map_or(origin, |(_, h)| h);
            if !from.eq_ignore_ascii_case(&host) {
                let message =
                    format!("requests from {origin} are not accepted: the console's own page only");
                return refuse(&req, StatusCode::FORBIDDEN, message);
            }
        }
    }
    let mut set_cookie = None;
    if let Some(token) = &state.token {
        match given_token(&req) {
            Some((t, in_url)) if same(&t, token) => {
                if in_url {
                    set_cookie = Some(format!(
                        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                    ));
                }
            }
            Some(_) => {
                return refuse(
                    &req,
                    StatusCode::FORBIDDEN,
                    "wrong token: open the URL `trailsql serve` printed".into(),
                );
            }
            None => {
                return refuse(
                    &req,
                    StatusCode::UNAUTHORIZED,
                    "this console needs its token: open the URL `trailsql serve` printed \
                     (…/?token=…)"
                        .into(),
                );
            }
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.append(header::SET_COOKIE, c);
    }
    // The page's code is all ours, from this server.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:8642",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8642",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example:8642",
            "10.0.0.1:8642",
            "",
            "[::2]:1",
            "127.0.0.1.evil.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 48);
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &a[..47]));
        assert!(!same(&a, &b));
    }
}

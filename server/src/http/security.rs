//! Who may ask what: the Host check (DNS rebinding), authentication
//! (`Authorization: Bearer` for programs, a login cookie for browsers) and
//! the CSRF rules every state change passes (POST only, same Origin, and a
//! token a foreign page cannot read).

use std::{
    cell::RefCell,
    collections::VecDeque,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use hyper::{
    HeaderMap, StatusCode,
    header::{self, HeaderValue},
};

use super::body::HttpError;
use crate::auth::constant_time_eq;

/// Browser logins kept at once; the oldest is forgotten first (its browser
/// simply logs in again).
const MAX_LOGINS: usize = 64;

/// The header programs send the CSRF token in (forms send a `csrf` field).
pub(super) const CSRF_HEADER: &str = "x-csrf-token";

/// How a request was authenticated.
#[derive(Debug, Clone)]
pub(super) enum Caller {
    /// No token is configured (loopback only): everyone who can connect
    /// may read; state changes still need the CSRF token.
    Open,
    /// A program with `Authorization: Bearer TOKEN`. Browsers never add
    /// that header on their own, so such a request cannot be forged by
    /// another page and needs no CSRF token.
    Bearer,
    /// A browser that logged in; its cookie maps to its own CSRF token.
    Cookie { csrf: String },
}

/// The rules of one HTTP listener.
pub(super) struct Guard {
    token: Option<String>,
    auth_delay: Duration,
    /// `host:port` values the Host header may take, lowercase.
    allowed_hosts: Vec<String>,
    /// Bound to 0.0.0.0 / [::]: any IP literal with this port is accepted
    /// too (DNS rebinding needs a *name*).
    any_ip_port: Option<u16>,
    /// The CSRF token of an open (token-less) monitor.
    open_csrf: String,
    logins: RefCell<VecDeque<(String, String)>>,
    cookie_name: String,
}

impl Guard {
    pub(super) fn new(
        bound: SocketAddr,
        token: Option<String>,
        auth_delay: Duration,
        extra_hosts: &[String],
    ) -> Self {
        let port = bound.port();
        // `name`, `name:port`, `v4`, `v4:port`, `v6`, `[v6]`, `[v6]:port`.
        let with_port = |host: &str| {
            if host.parse::<std::net::Ipv6Addr>().is_ok() {
                format!("[{host}]:{port}")
            } else if host.ends_with(']') || !host.contains(':') {
                format!("{host}:{port}")
            } else {
                host.to_owned()
            }
        };
        let mut allowed_hosts = vec![bound.to_string()];
        if bound.ip().is_loopback() {
            allowed_hosts.push(format!("localhost:{port}"));
            allowed_hosts.push(format!("127.0.0.1:{port}"));
            allowed_hosts.push(format!("[::1]:{port}"));
        }
        allowed_hosts.extend(extra_hosts.iter().map(|host| with_port(host)));
        if port == 80 {
            let bare: Vec<String> = allowed_hosts
                .iter()
                .filter_map(|host| host.strip_suffix(":80").map(str::to_owned))
                .collect();
            allowed_hosts.extend(bare);
        }
        for host in &mut allowed_hosts {
            host.make_ascii_lowercase();
        }
        Self {
            token,
            auth_delay,
            allowed_hosts,
            any_ip_port: bound.ip().is_unspecified().then_some(port),
            open_csrf: random_hex(),
            logins: RefCell::new(VecDeque::new()),
            cookie_name: format!("monitor_session_{port}"),
        }
    }

    /// Whether a token is configured (and so logins exist).
    pub(super) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Refuses a request whose Host header does not name this monitor. A
    /// page on `evil.example` whose DNS name is re-pointed at 127.0.0.1
    /// sends `Host: evil.example:50103`, and gets nothing.
    pub(super) fn check_host(&self, headers: &HeaderMap) -> Result<(), HttpError> {
        let host = headers
            .get(header::HOST)
            .ok_or_else(|| HttpError::bad_request("missing Host header (HTTP/1.1 requires one)"))?
            .to_str()
            .map_err(|_| HttpError::bad_request("the Host header is not ASCII"))?
            .to_ascii_lowercase();
        if self.allowed_hosts.contains(&host) || self.is_ip_literal_on_port(&host) {
            return Ok(());
        }
        Err(HttpError::forbidden(format!(
            "Host {host:?} is not this monitor (accepted: {}); requests through other names are \
             refused to stop DNS rebinding — add the name with MonitorBuilder::http_host_name",
            self.allowed_hosts.join(", ")
        )))
    }

    fn is_ip_literal_on_port(&self, host: &str) -> bool {
        let Some(port) = self.any_ip_port else {
            return false;
        };
        let Some((ip, host_port)) = host.rsplit_once(':') else {
            return false;
        };
        host_port == port.to_string()
            && ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok()
    }

    /// Who is asking, or `None` when a token is required and the request
    /// has neither a valid bearer token nor a login cookie. A *wrong*
    /// bearer token is an error (401) answered after the auth delay.
    pub(super) async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: &str,
    ) -> Result<Option<Caller>, HttpError> {
        let Some(token) = &self.token else {
            return Ok(Some(Caller::Open));
        };
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            let presented = authorization
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim);
            return match presented {
                Some(guess) if constant_time_eq(guess.as_bytes(), token.as_bytes()) => {
                    Ok(Some(Caller::Bearer))
                }
                _ => {
                    self.failed(peer).await;
                    Err(unauthorized(
                        "the Authorization header does not carry the monitor's token (expected: \
                         Authorization: Bearer TOKEN)",
                    ))
                }
            };
        }
        let Some(session) = cookie(headers, &self.cookie_name) else {
            return Ok(None);
        };
        let logins = self.logins.borrow();
        let found = logins
            .iter()
            .find(|(id, _)| constant_time_eq(session.as_bytes(), id.as_bytes()));
        Ok(found.map(|(_, csrf)| Caller::Cookie { csrf: csrf.clone() }))
    }

    /// Logs a failed attempt and makes the caller wait, so guessing is slow.
    pub(super) async fn failed(&self, peer: &str) {
        eprintln!("monitor: failed HTTP authentication from {peer}");
        async_io::Timer::after(self.auth_delay).await;
    }

    /// Checks a login form's token; on success returns the `Set-Cookie`
    /// value of a new login.
    pub(super) async fn login(&self, guess: &str, peer: &str) -> Result<HeaderValue, HttpError> {
        let Some(token) = &self.token else {
            return Err(HttpError::bad_request(
                "this monitor has no token: there is nothing to log in to",
            ));
        };
        if !constant_time_eq(guess.trim().as_bytes(), token.as_bytes()) {
            self.failed(peer).await;
            return Err(unauthorized("wrong token"));
        }
        let id = random_hex();
        let mut logins = self.logins.borrow_mut();
        if logins.len() >= MAX_LOGINS {
            logins.pop_front();
        }
        logins.push_back((id.clone(), random_hex()));
        HeaderValue::from_str(&format!(
            "{}={id}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie_name
        ))
        .map_err(|_| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "bad cookie"))
    }

    /// The CSRF token pages embed in their forms for `caller`.
    pub(super) fn csrf_token<'a>(&'a self, caller: &'a Caller) -> &'a str {
        match caller {
            Caller::Cookie { csrf } => csrf,
            Caller::Open | Caller::Bearer => &self.open_csrf,
        }
    }

    /// The rules for a state change: the Origin, when sent, must be this
    /// monitor; and unless the request carries the bearer token, it must
    /// carry the caller's CSRF token (header or form field).
    pub(super) fn check_state_change(
        &self,
        headers: &HeaderMap,
        caller: &Caller,
        form_csrf: Option<&str>,
    ) -> Result<(), HttpError> {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            let host = headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if origin != format!("http://{host}") {
                return Err(HttpError::forbidden(format!(
                    "cross-origin request refused: Origin {origin:?} is not http://{host}"
                )));
            }
        }
        if matches!(caller, Caller::Bearer) {
            return Ok(());
        }
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .or(form_csrf);
        match presented {
            Some(token)
                if constant_time_eq(token.as_bytes(), self.csrf_token(caller).as_bytes()) =>
            {
                Ok(())
            }
            Some(_) => Err(HttpError::forbidden(
                "the CSRF token does not match; reload the page (or GET /api/session) for the \
                 current one",
            )),
            None => Err(HttpError::forbidden(
                "missing CSRF token: send the X-CSRF-Token header (its value is in GET \
                 /api/session) or the csrf form field",
            )),
        }
    }
}

/// A 401 that tells a program how to authenticate.
pub(super) fn unauthorized(message: &str) -> HttpError {
    HttpError::new(StatusCode::UNAUTHORIZED, message).with_header(
        header::WWW_AUTHENTICATE,
        "Bearer realm=\"monitor\", charset=\"UTF-8\"",
    )
}

/// The value of cookie `name`, if the request sent it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// 128 random bits as hex, from the operating system.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    // Without an OS random source there is no safe token to hand out; a
    // process in that state cannot run a TLS client either.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(guard: &Guard, host: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        guard.check_host(&headers).is_ok()
    }

    #[test]
    fn host_names_are_accepted_with_or_without_their_port() {
        let names = [
            "mon.example".to_owned(),
            "proxy.example:8443".to_owned(),
            "::1".to_owned(),
            "[fe80::2]".to_owned(),
        ];
        let guard = Guard::new(
            "10.0.0.5:9464".parse().unwrap(),
            Some("t".repeat(16)),
            Duration::from_millis(1),
            &names,
        );
        for ok in [
            "10.0.0.5:9464",
            "MON.example:9464",
            "proxy.example:8443",
            "[::1]:9464",
            "[fe80::2]:9464",
        ] {
            assert!(host(&guard, ok), "{ok}");
        }
        for refused in [
            "localhost:9464",
            "mon.example:80",
            "mon.example",
            "evil.example:9464",
            "10.0.0.6:9464",
            "127.0.0.1:9464",
        ] {
            assert!(!host(&guard, refused), "{refused}");
        }
    }

    #[test]
    fn unspecified_binds_take_ip_literals_on_their_port_but_no_names() {
        let guard = Guard::new(
            "0.0.0.0:9464".parse().unwrap(),
            Some("t".repeat(16)),
            Duration::from_millis(1),
            &[],
        );
        assert!(host(&guard, "192.168.1.20:9464"));
        assert!(host(&guard, "[2001:db8::1]:9464"));
        assert!(!host(&guard, "192.168.1.20:9465"));
        assert!(!host(&guard, "rebound.example:9464"));
    }
}

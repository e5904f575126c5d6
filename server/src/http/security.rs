//! Who may ask what: the Host check (DNS rebinding), authentication
//! (`Authorization: Bearer` for programs, a login cookie for browsers) and
//! the CSRF rules every state change passes (POST only, same Origin, and a
//! token a foreign page cannot read).

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use hyper::{
    HeaderMap, Response, StatusCode,
    header::{self, HeaderValue},
};

use super::body::{Body, HttpError};
use crate::auth::{Auth, constant_time_eq};

/// Browser logins kept at once; the oldest is forgotten first (its browser
/// simply logs in again).
const MAX_LOGINS: usize = 64;

/// How long a browser login lasts without a request, by default: a tab
/// left open on the task list refreshes itself and keeps it alive.
pub const DEFAULT_LOGIN_IDLE: Duration = Duration::from_secs(30 * 60);

/// How long a browser login lasts at most, however busy, by default.
pub const DEFAULT_LOGIN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// When browser logins end (`MonitorBuilder::http_login_expiry`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginExpiry {
    /// Without a request for this long, a login ends.
    pub(crate) idle: Duration,
    /// A login ends this long after it began, however busy.
    pub(crate) lifetime: Duration,
}

impl Default for LoginExpiry {
    fn default() -> Self {
        Self {
            idle: DEFAULT_LOGIN_IDLE,
            lifetime: DEFAULT_LOGIN_LIFETIME,
        }
    }
}

impl LoginExpiry {
    /// Refuses durations that would make logging in useless.
    pub(crate) fn check(self) -> Result<Self, String> {
        if self.idle.is_zero() || self.lifetime.is_zero() {
            return Err(format!(
                "http_login_expiry needs an idle timeout and a lifetime longer than zero (got \
                 {:?} and {:?}); the defaults are {} and {}",
                self.idle,
                self.lifetime,
                show(DEFAULT_LOGIN_IDLE),
                show(DEFAULT_LOGIN_LIFETIME)
            ));
        }
        Ok(self)
    }
}

/// One browser login.
struct Login {
    /// The cookie's value: 128 random bits.
    id: String,
    /// Its own CSRF token.
    csrf: String,
    began: Instant,
    last_used: Instant,
}

/// Who a request comes from, as far as its credentials say.
pub(super) enum Identity {
    /// Open monitor, right bearer token, or a live login.
    Known(Caller),
    /// No credentials at all.
    Anonymous,
    /// A login cookie that no longer works, and why: refused with 401
    /// (the login page for a browser) and cleared.
    Stale(String),
}

/// Token guesses over HTTP (bearer headers and login forms) that may wait
/// for their turn in the process-wide guess budget at once; one more is
/// answered 429 with `Retry-After` at once, without being compared. The
/// guesses sleeping out their delay after being found wrong are bounded by
/// the budget itself (one per `auth_delay` after a burst of three).
pub(crate) const MAX_WAITING_GUESSES: usize = 8;

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
    /// The token and the guess budget the console's network listeners
    /// spend too; `None` without a token.
    auth: Option<Arc<Auth>>,
    /// HTTP guesses waiting for their turn in the budget now.
    waiting: Cell<usize>,
    /// `host:port` values the Host header may take, lowercase.
    allowed_hosts: Vec<String>,
    /// Bound to 0.0.0.0 / [::]: any IP literal with this port is accepted
    /// too (DNS rebinding needs a *name*).
    any_ip_port: Option<u16>,
    /// The CSRF token of an open (token-less) monitor.
    open_csrf: String,
    logins: RefCell<VecDeque<Login>>,
    expiry: LoginExpiry,
    cookie_name: String,
}

impl Guard {
    pub(super) fn new(
        bound: SocketAddr,
        auth: Option<Arc<Auth>>,
        extra_hosts: &[String],
        expiry: LoginExpiry,
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
            auth,
            waiting: Cell::new(0),
            allowed_hosts,
            any_ip_port: bound.ip().is_unspecified().then_some(port),
            open_csrf: random_hex(),
            logins: RefCell::new(VecDeque::new()),
            expiry,
            cookie_name: format!("monitor_session_{port}"),
        }
    }

    /// Whether a token is configured (and so logins exist).
    pub(super) fn has_token(&self) -> bool {
        self.auth.is_some()
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

    /// Who is asking. A *wrong* bearer token is a guess: an error (401)
    /// answered after the auth delay, see [`Guard::check_guess`]. A login
    /// cookie is not: its 128 random bits cannot be guessed, and an expired
    /// one must not spend the budget the owner's bearer requests need.
    pub(super) async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: &str,
    ) -> Result<Identity, HttpError> {
        if self.auth.is_none() {
            return Ok(Identity::Known(Caller::Open));
        }
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            // A header that is not `Bearer …` is a guess too (one that
            // cannot match): it must not be answered faster than a wrong
            // token.
            let presented = authorization
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map_or("", str::trim);
            self.check_guess(presented, peer, || {
                unauthorized(
                    "the Authorization header does not carry the monitor's token (expected: \
                     Authorization: Bearer TOKEN)",
                )
            })
            .await?;
            return Ok(Identity::Known(Caller::Bearer));
        }
        let Some(session) = cookie(headers, &self.cookie_name) else {
            return Ok(Identity::Anonymous);
        };
        Ok(self.check_login(session, Instant::now()))
    }

    /// Finds the login of cookie value `session` and checks that it has
    /// not expired at `now` (an expired one is forgotten).
    fn check_login(&self, session: &str, now: Instant) -> Identity {
        let mut logins = self.logins.borrow_mut();
        let Some(at) = logins
            .iter()
            .position(|login| constant_time_eq(session.as_bytes(), login.id.as_bytes()))
        else {
            return Identity::Stale(
                "this login is not valid any more (it was logged out, expired, replaced by \
                 newer logins, or the monitor restarted); log in again"
                    .into(),
            );
        };
        let login = &mut logins[at];
        let why = if now.saturating_duration_since(login.began) >= self.expiry.lifetime {
            format!(
                "your login expired: logins last at most {}; log in again",
                show(self.expiry.lifetime)
            )
        } else if now.saturating_duration_since(login.last_used) >= self.expiry.idle {
            format!(
                "your login expired after {} without a request; log in again",
                show(self.expiry.idle)
            )
        } else {
            login.last_used = now;
            return Identity::Known(Caller::Cookie {
                csrf: login.csrf.clone(),
            });
        };
        logins.remove(at);
        Identity::Stale(why)
    }

    /// Turns `response` (the login page, or a JSON 401) into the refusal of
    /// a stale login: status 401, and the cookie cleared.
    pub(super) fn refuse_stale(&self, mut response: Response<Body>) -> Response<Body> {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
            .headers_mut()
            .insert(header::SET_COOKIE, self.cleared_cookie());
        response
    }

    /// Ends `caller`'s login (`POST /logout`); returns the `Set-Cookie`
    /// value that clears the cookie.
    pub(super) fn logout(&self, caller: &Caller) -> HeaderValue {
        if let Caller::Cookie { csrf } = caller {
            self.logins
                .borrow_mut()
                .retain(|login| !constant_time_eq(login.csrf.as_bytes(), csrf.as_bytes()));
        }
        self.cleared_cookie()
    }

    fn cleared_cookie(&self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "{}=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/",
            self.cookie_name
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Checks `guess` against the token as one guess of the process-wide
    /// network budget (shared with the console's TCP port): it waits, in a
    /// bounded fair queue, until the budget has room for one more wrong
    /// guess, is compared in constant time, and when wrong is logged,
    /// charged, and answered with `refusal()` only after the auth delay (a
    /// timer: the monitor's loop serves everyone else meanwhile). When
    /// [`MAX_WAITING_GUESSES`] are already waiting it is not compared at
    /// all: 429 with `Retry-After`.
    async fn check_guess(
        &self,
        guess: &str,
        peer: &str,
        refusal: impl FnOnce() -> HttpError,
    ) -> Result<(), HttpError> {
        let Some(auth) = &self.auth else {
            return Err(refusal());
        };
        let waiting = self.waiting.get();
        if waiting >= MAX_WAITING_GUESSES {
            // About when the queue ahead will have had its turns.
            let backlog = auth
                .delay
                .saturating_mul(u32::try_from(waiting + 1).unwrap_or(u32::MAX));
            let seconds = backlog.as_secs() + u64::from(backlog.subsec_nanos() > 0);
            return Err(HttpError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{waiting} token checks are already waiting (at most \
                     {MAX_WAITING_GUESSES}: wrong tokens are checked at one per {:?} for the \
                     whole process); try again after {seconds} s",
                    auth.delay
                ),
            )
            .with_header(header::RETRY_AFTER, &seconds.max(1).to_string()));
        }
        self.waiting.set(waiting + 1);
        let granted = {
            let _waiting = Waiting(&self.waiting);
            auth.guess_over_network(guess.as_bytes()).await
        };
        if granted {
            return Ok(());
        }
        eprintln!("monitor: failed HTTP authentication from {peer}");
        // The delay comes before the answer, on a timer of the loop: the
        // guesser learns nothing sooner, and nobody else waits for it.
        async_io::Timer::after(auth.delay).await;
        Err(refusal())
    }

    /// Checks a login form's token; on success returns the `Set-Cookie`
    /// value of a new login.
    pub(super) async fn login(&self, guess: &str, peer: &str) -> Result<HeaderValue, HttpError> {
        if self.auth.is_none() {
            return Err(HttpError::bad_request(
                "this monitor has no token: there is nothing to log in to",
            ));
        }
        self.check_guess(guess.trim(), peer, || unauthorized("wrong token"))
            .await?;
        let id = random_hex();
        let now = Instant::now();
        let mut logins = self.logins.borrow_mut();
        // Expired logins give up their places first.
        let expiry = self.expiry;
        logins.retain(|login| {
            now.saturating_duration_since(login.began) < expiry.lifetime
                && now.saturating_duration_since(login.last_used) < expiry.idle
        });
        if logins.len() >= MAX_LOGINS {
            logins.pop_front();
        }
        logins.push_back(Login {
            id: id.clone(),
            csrf: random_hex(),
            began: now,
            last_used: now,
        });
        // The browser forgets the cookie at the end of the lifetime too.
        HeaderValue::from_str(&format!(
            "{}={id}; Max-Age={}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie_name,
            self.expiry.lifetime.as_secs().max(1)
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

/// Counts a guess as waiting until dropped (also when its request is
/// dropped mid-wait).
struct Waiting<'a>(&'a Cell<usize>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
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

/// A duration as people write it in a message: `30 min`, `12 h`, `400 ms`.
fn show(duration: Duration) -> String {
    let secs = duration.as_secs();
    if duration.subsec_nanos() != 0 || secs == 0 {
        format!("{} ms", duration.as_millis())
    } else if secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
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
            Some(Arc::new(Auth::new(
                "t".repeat(16),
                Duration::from_millis(1),
            ))),
            &names,
            LoginExpiry::default(),
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
            Some(Arc::new(Auth::new(
                "t".repeat(16),
                Duration::from_millis(1),
            ))),
            &[],
            LoginExpiry::default(),
        );
        assert!(host(&guard, "192.168.1.20:9464"));
        assert!(host(&guard, "[2001:db8::1]:9464"));
        assert!(!host(&guard, "192.168.1.20:9465"));
        assert!(!host(&guard, "rebound.example:9464"));
    }

    #[test]
    fn logins_end_when_idle_or_too_old_and_are_then_forgotten() {
        let expiry = LoginExpiry {
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(300),
        };
        let guard = Guard::new(
            "127.0.0.1:9464".parse().unwrap(),
            Some(Arc::new(Auth::new(
                "t".repeat(16),
                Duration::from_millis(1),
            ))),
            &[],
            expiry,
        );
        let login = |at: Instant| {
            let id = random_hex();
            guard.logins.borrow_mut().push_back(Login {
                id: id.clone(),
                csrf: random_hex(),
                began: at,
                last_used: at,
            });
            id
        };
        let start = Instant::now();
        let known = |identity: Identity| matches!(identity, Identity::Known(Caller::Cookie { .. }));
        let stale = |identity: Identity| match identity {
            Identity::Stale(why) => why,
            _ => panic!("not refused"),
        };
        // Used every 50 s, a login lives until its lifetime is over.
        let busy = login(start);
        for step in 1..6 {
            assert!(known(
                guard.check_login(&busy, start + Duration::from_secs(50 * step))
            ));
        }
        let why = stale(guard.check_login(&busy, start + Duration::from_secs(300)));
        assert!(why.contains("at most 5 min"), "{why}");
        // Forgotten once refused.
        let why = stale(guard.check_login(&busy, start + Duration::from_secs(301)));
        assert!(why.contains("not valid any more"), "{why}");
        // Left alone for the idle timeout, a login ends.
        let idle = login(start);
        let why = stale(guard.check_login(&idle, start + Duration::from_secs(60)));
        assert!(why.contains("after 1 min without a request"), "{why}");
        assert!(guard.logins.borrow().is_empty());
    }

    #[test]
    fn expiry_durations_must_be_positive() {
        let zero = LoginExpiry {
            idle: Duration::ZERO,
            lifetime: Duration::from_secs(1),
        };
        let err = zero.check().unwrap_err();
        assert!(err.contains("30 min") && err.contains("12 h"), "{err}");
        assert_eq!(show(Duration::from_millis(400)), "400 ms");
        assert_eq!(show(Duration::from_secs(90)), "90 s");
    }
}

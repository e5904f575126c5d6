//! Response bodies and JSON errors.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use hyper::{
    Response, StatusCode,
    body::{Bytes, Frame},
    header::{self, HeaderValue},
};
use serde::Serialize;

/// A response body: whole, or produced chunk by chunk on the monitor's
/// thread (the streamed `GET /api/tasks`), so a million tasks never sit in
/// memory at once.
pub(super) enum Body {
    Full(Option<Bytes>),
    Chunks(Box<dyn Iterator<Item = String>>),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Body")
    }
}

impl Body {
    pub(super) fn full(bytes: impl Into<Bytes>) -> Self {
        Body::Full(Some(bytes.into()))
    }

    pub(super) fn empty() -> Self {
        Body::Full(None)
    }

    pub(super) fn chunks(chunks: impl Iterator<Item = String> + 'static) -> Self {
        Body::Chunks(Box::new(chunks))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // Each chunk is produced when hyper asks for it, that is after the
        // previous one was handed to the socket: back-pressure for free.
        let next = match self.get_mut() {
            Body::Full(bytes) => bytes.take(),
            Body::Chunks(chunks) => chunks.next().map(Bytes::from),
        };
        Poll::Ready(next.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(bytes) => bytes.is_none(),
            Body::Chunks(_) => false,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(bytes) => {
                hyper::body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Body::Chunks(_) => hyper::body::SizeHint::default(),
        }
    }
}

/// A response to a request that could not be served: a status and a
/// message saying what was wrong and what is accepted, always sent as
/// JSON (`{"error": "...", "status": 404}`), to the API and pages alike.
#[derive(Debug)]
pub(super) struct HttpError {
    pub(super) status: StatusCode,
    pub(super) message: String,
    /// Extra headers, such as `Allow` for a 405 or `WWW-Authenticate`.
    pub(super) headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl HttpError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(super) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub(super) fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    pub(super) fn into_response(self) -> Response<Body> {
        #[derive(Serialize)]
        struct Wire<'a> {
            error: &'a str,
            status: u16,
        }
        let body = serde_json::to_vec(&Wire {
            error: &self.message,
            status: self.status.as_u16(),
        })
        .unwrap_or_default();
        let mut response = json_response(self.status, body);
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A JSON response with the headers every response of the monitor has.
pub(super) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    respond(status, "application/json", Body::full(body))
}

/// Serializes `value` into a 200 JSON response.
pub(super) fn json_ok<T: Serialize + ?Sized>(value: &T) -> Result<Response<Body>, HttpError> {
    let mut body = serde_json::to_vec(value).map_err(|err| {
        HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("JSON encoding failed: {err}"),
        )
    })?;
    body.push(b'\n');
    Ok(json_response(StatusCode::OK, body))
}

/// A response with `content_type` and the monitor's standard headers: no
/// caching (every answer is live state), no sniffing, no framing by other
/// sites, and a content security policy that allows only the monitor's
/// own scripts and styles.
pub(super) fn respond(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
             base-uri 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

//! Who is asking, and whether a browser was tricked into asking: the one place requests are
//! authenticated and cross-site requests refused.
//!
//! - API clients send `Authorization: Bearer <token>`. A browser cannot add that header to a
//!   cross-origin request without CORS (which berth never answers), so these requests need no
//!   more.
//! - The web UI holds a server-side session: its cookie (`berth_session`, `HttpOnly`,
//!   `SameSite=Strict`, `Secure` behind https) carries a random 256-bit id stored hashed in the
//!   store (berth-store `sessions`), never a token. SameSite does not stop a *same-site*
//!   origin (another port, a sibling host), so every state change made with the cookie must
//!   also come from the server's own origin (`Origin`, else `Sec-Fetch-Site`, else `Referer`,
//!   against `[serve] public_url` or `http://` + `Host`) and carry the session's CSRF token
//!   (`X-CSRF-Token`, or a `csrf_token` form field), compared in constant time. [`guard`] does
//!   both for every route; [`Caller`] refuses a cookie-authenticated state change the guard
//!   did not pass.
//! - Failed token and session checks are limited per client address and per user
//!   ([`crate::limit`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_store::User;

use crate::error::ApiError;
use crate::state::{AppState, SecurityOptions};

/// The web UI's session cookie.
pub const SESSION_COOKIE: &str = "berth_session";
/// The header the UI's scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field the UI's forms send the CSRF token in.
pub const CSRF_FIELD: &str = "csrf_token";

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl Caller {
    /// Refuses non-admins.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("user `{}` is not an administrator", self.0.name))
                .hint("ask an administrator: only admins manage engines, images, users and projects"))
        }
    }
}

/// An authenticated administrator: refused with 403 before the request's body is read, so
/// every admin endpoint answers users the same way whatever they send.
#[derive(Debug, Clone)]
pub struct Admin(pub User);

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_admin()?;
        Ok(Admin(caller.0))
    }
}

/// Marks a request [`guard`] let through as a same-origin state change with its CSRF token.
#[derive(Debug, Clone, Copy)]
struct CsrfChecked;

/// How a request says who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// An `Authorization` header of another scheme (refused; never falls back to the cookie).
    OtherScheme,
    /// The UI's session cookie.
    Session(String),
    /// Nothing.
    None,
}

/// The credentials of a request: the `Authorization` header when there is one, else the
/// session cookie.
pub fn credentials(headers: &HeaderMap) -> Credentials {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().unwrap_or_default().trim();
        return match v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            Some(t) => Credentials::Bearer(t.trim().to_owned()),
            None => Credentials::OtherScheme,
        };
    }
    match session_cookie(headers) {
        Some(s) => Credentials::Session(s),
        None => Credentials::None,
    }
}

/// The session id in the UI's cookie.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session: derived from its id (domain-separated SHA-256), so it needs no
/// storage, differs from the stored hash, and tells nothing about the id.
pub fn csrf_token(session_id: &str) -> String {
    berth_store::hash::sha256_hex(format!("berth-csrf\0{session_id}").as_bytes())
}

/// The `Set-Cookie` value that keeps a session.
pub fn session_set_cookie(id: &str, opts: &SecurityOptions) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        opts.session_ttl.as_secs(),
        if opts.secure_cookies { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes it.
pub fn session_clear_cookie(opts: &SecurityOptions) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if opts.secure_cookies { "; Secure" } else { "" }
    )
}

/// `scheme://host[:port]` of an `http(s)` URL, lower-cased, default ports dropped (the form of
/// an `Origin` header); `None` for anything else.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

/// The origin this server is reached at for this request.
fn own_origin(headers: &HeaderMap, opts: &SecurityOptions) -> Option<String> {
    match &opts.public_origin {
        Some(o) => Some(o.clone()),
        None => headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(|h| origin_of(&format!("http://{h}"))),
    }
}

/// Refuses a request that a browser sent from another origin: `Origin` must be the server's
/// own; without it `Sec-Fetch-Site` must say `same-origin`; without either, `Referer` must be
/// on the server's origin. A request with none of them is refused too (every browser sends
/// `Origin` with a POST).
pub fn check_same_origin(headers: &HeaderMap, opts: &SecurityOptions) -> Result<(), ApiError> {
    let refuse = |why: String| {
        ApiError::forbidden(format!("cross-origin request refused: {why}")).hint(
            "change state from berth's own pages, or send `Authorization: Bearer <token>`; behind a proxy set `[serve] public_url`",
        )
    };
    let own = own_origin(headers, opts).ok_or_else(|| refuse("the request has no `Host`".into()))?;
    let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("(not text)").to_owned());
    if let Some(site) = get("sec-fetch-site")
        && site != "same-origin"
    {
        return Err(refuse(format!("`Sec-Fetch-Site: {site}`")));
    }
    if let Some(origin) = get("origin") {
        return if origin_of(&origin).as_deref() == Some(own.as_str()) {
            Ok(())
        } else {
            Err(refuse(format!("`Origin: {origin}` is not {own}")))
        };
    }
    if get("sec-fetch-site").is_some() {
        return Ok(());
    }
    match get("referer") {
        Some(r) if origin_of(&r).as_deref() == Some(own.as_str()) => Ok(()),
        Some(r) => Err(refuse(format!("`Referer: {r}` is not on {own}"))),
        None => Err(refuse("it says neither `Origin`, `Sec-Fetch-Site` nor `Referer`".into())),
    }
}

/// The client's address: the peer, or (`[serve] forwarded_for`) the last `X-Forwarded-For`
/// entry, which the proxy in front appended.
pub fn client_address(headers: &HeaderMap, peer: Option<SocketAddr>, opts: &SecurityOptions) -> String {
    if opts.forwarded_for
        && let Some(last) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
    {
        return last.to_owned();
    }
    peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string())
}

fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn too_many(wait: std::time::Duration) -> ApiError {
    ApiError::too_many("too many failed sign-ins or token checks; wait before trying again", wait)
        .hint("check the token; an admin makes a new one with `berth user token NAME`")
}

/// A checked API token: its user and its SHA-256.
pub async fn check_token(state: &Arc<AppState>, address: &str, token: String) -> Result<(User, String), ApiError> {
    let addr_key = format!("address {address}");
    state.limiter.check(&addr_key).map_err(too_many)?;
    let store = state.store.clone();
    let check = tokio::task::spawn_blocking(move || store.check_token(&token))
        .await
        .map_err(|e| ApiError::internal(format!("checking the token: {e}")))??;
    let user_key = check.owner.as_ref().map(|o| format!("user {o}"));
    if let Some(k) = &user_key {
        state.limiter.check(k).map_err(too_many)?;
    }
    if let (Some(user), Some(sha)) = (check.user, check.sha256) {
        return Ok((user, sha));
    }
    let mut limited = state.limiter.fail(&addr_key).err();
    if let Some(k) = &user_key {
        limited = limited.or(state.limiter.fail(k).err());
    }
    tracing::warn!(%address, owner = ?check.owner, "a token was refused");
    match limited {
        Some(wait) => Err(too_many(wait)),
        None => Err(unauthorized("the API token is not valid (unknown or revoked)")),
    }
}

/// The user of a live session.
pub async fn check_session(state: &Arc<AppState>, address: &str, id: String) -> Result<User, ApiError> {
    let addr_key = format!("address {address}");
    state.limiter.check(&addr_key).map_err(too_many)?;
    let store = state.store.clone();
    let user = tokio::task::spawn_blocking(move || store.session_user(&id))
        .await
        .map_err(|e| ApiError::internal(format!("checking the session: {e}")))??;
    match user {
        Some(u) => Ok(u),
        None => match state.limiter.fail(&addr_key) {
            Err(wait) => Err(too_many(wait)),
            Ok(()) => Err(unauthorized("the session has ended (signed out, expired or its token revoked)")),
        },
    }
}

fn unauthorized(m: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, m)
        .hint("send `Authorization: Bearer <token>`; an admin makes tokens with `berth user token NAME`")
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let address = client_address(&parts.headers, peer(&parts.extensions), &state.opts.security);
        match credentials(&parts.headers) {
            Credentials::Bearer(token) => {
                let (user, sha) = check_token(state, &address, token).await?;
                crate::audit::identify(&parts.extensions, &user.name, crate::audit::token_via(&sha));
                Ok(Caller(user))
            }
            Credentials::Session(id) => {
                if unsafe_method(&parts.method) && parts.extensions.get::<CsrfChecked>().is_none() {
                    return Err(ApiError::forbidden("a state change with the session cookie was not checked"));
                }
                let user = check_session(state, &address, id).await?;
                crate::audit::identify(&parts.extensions, &user.name, "session");
                Ok(Caller(user))
            }
            Credentials::OtherScheme => Err(unauthorized("the `Authorization` header is not `Bearer <token>`")),
            Credentials::None => Err(unauthorized("no API token: this endpoint needs one")),
        }
    }
}

/// The middleware in front of every route: a state change (any method but GET, HEAD,
/// OPTIONS) without an `Authorization` header must come from the server's own origin, and if
/// it carries the session cookie (sign-in excepted), the session's CSRF token too.
pub async fn guard(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    if !unsafe_method(req.method()) || req.headers().contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    if let Err(e) = check_same_origin(req.headers(), &state.opts.security) {
        tracing::warn!(path = %req.uri().path(), error = %e.body.error, "refused");
        return e.into_response();
    }
    let Some(session) = session_cookie(req.headers()) else { return next.run(req).await };
    if req.uri().path() == "/login" {
        return next.run(req).await;
    }
    let expected = csrf_token(&session);
    let missing = || {
        ApiError::forbidden("the CSRF token is missing or wrong")
            .hint("reload the page and try again; scripts send the page's token in `X-CSRF-Token`")
            .into_response()
    };
    let given = match req.headers().get(CSRF_HEADER) {
        Some(v) => v.to_str().unwrap_or_default().to_owned(),
        None if is_form(req.headers()) => {
            let (parts, body) = req.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, state.opts.max_body_bytes).await else {
                return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large").into_response();
            };
            let field = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .unwrap_or_default()
                .into_iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v)
                .unwrap_or_default();
            req = Request::from_parts(parts, Body::from(bytes));
            field
        }
        None => String::new(),
    };
    if !berth_store::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        tracing::warn!(path = %req.uri().path(), "a state change without the session's CSRF token was refused");
        return missing();
    }
    req.extensions_mut().insert(CsrfChecked);
    next.run(req).await
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The client address of a UI request (for the sign-in limiter).
pub fn request_address(headers: &HeaderMap, extensions: &axum::http::Extensions, opts: &SecurityOptions) -> String {
    client_address(headers, peer(extensions), opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(origin_of("https://Berth.Lab:443/ui"), Some("https://berth.lab".into()));
        assert_eq!(origin_of("http://127.0.0.1:8080"), Some("http://127.0.0.1:8080".into()));
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("ftp://x"), None);
        assert_eq!(origin_of("http://user@evil"), None);
    }

    #[test]
    fn only_the_servers_own_origin_may_change_state() {
        let opts = SecurityOptions::default();
        let host = ("host", "127.0.0.1:8080");
        assert!(check_same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8080")]), &opts).is_ok());
        for bad in [
            vec![host, ("origin", "http://127.0.0.1:9999")],
            vec![host, ("origin", "null")],
            vec![host, ("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "same-site")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("referer", "http://127.0.0.1:9999/x")],
            vec![host],
        ] {
            assert!(check_same_origin(&headers(&bad), &opts).is_err(), "{bad:?}");
        }
        assert!(check_same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")]), &opts).is_ok());
        assert!(check_same_origin(&headers(&[host, ("referer", "http://127.0.0.1:8080/ui/runs")]), &opts).is_ok());
        let behind = SecurityOptions { public_origin: Some("https://berth.lab".into()), ..SecurityOptions::default() };
        assert!(check_same_origin(&headers(&[host, ("origin", "https://berth.lab")]), &behind).is_ok());
        assert!(check_same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8080")]), &behind).is_err());
    }

    #[test]
    fn the_authorization_header_never_falls_back_to_the_cookie() {
        let cookie = ("cookie", "a=b; berth_session=abc");
        assert_eq!(credentials(&headers(&[cookie])), Credentials::Session("abc".into()));
        assert_eq!(credentials(&headers(&[cookie, ("authorization", "Basic x")])), Credentials::OtherScheme);
        assert_eq!(credentials(&headers(&[("authorization", "Bearer t")])), Credentials::Bearer("t".into()));
        assert_ne!(csrf_token("abc"), berth_store::hash::sha256_hex(b"abc"));
    }
}

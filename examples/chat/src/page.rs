//! The web page (embedded in the binary) and the upgrade hook that gives each connection its
//! session and nickname.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use swill::hooks::{Handshake, Rejection};
use swill::pubsub::{Sessions, DEFAULT_SESSION_TTL, MAX_SESSION_ID_LEN};
use swill::Swill;

use std::sync::Arc;

use crate::{ChatConfig, Visitor, NICK_KEY, SESSION_COOKIE};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");
/// The TypeScript client, bundled by `npm run bundle` (see `assets/swill-client.js`'s banner).
const CLIENT_JS: &str = include_str!("../assets/swill-client.js");

/// What the page may load: its own scripts and styles, and its own WebSocket.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// The whole HTTP side: the page at `/`, its assets, and `app` (the swill API at `/ws`,
/// `/schema.json`, `/docs`).
pub fn router(app: Swill) -> Router {
    app.into_router()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route(
            "/app.js",
            get(|| asset("text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/swill-client.js",
            get(|| asset("text/javascript; charset=utf-8", CLIENT_JS)),
        )
        .route(
            "/style.css",
            get(|| asset("text/css; charset=utf-8", STYLE_CSS)),
        )
}

fn common_headers(headers: &mut HeaderMap, content_type: &'static str) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    common_headers(&mut headers, content_type);
    (headers, body)
}

/// The cookie `name` of a request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A usable session id: what `Sessions::new_id` makes, or anything short and plain.
fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SESSION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn set_cookie(id: &str) -> Option<HeaderValue> {
    let max_age = DEFAULT_SESSION_TTL.as_secs();
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
    ))
    .ok()
}

/// The page; sets the session cookie (a fresh id when the browser has none, else the same
/// id again, which renews its lifetime).
async fn index(request: HeaderMap) -> impl IntoResponse {
    let id = cookie(&request, SESSION_COOKIE)
        .filter(|id| valid_session_id(id))
        .map_or_else(Sessions::new_id, str::to_owned);
    let mut headers = HeaderMap::new();
    common_headers(&mut headers, "text/html; charset=utf-8");
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    if let Some(c) = set_cookie(&id) {
        headers.insert(SET_COOKIE, c);
    }
    (StatusCode::OK, headers, INDEX_HTML)
}

/// Whether the upgrade comes from a page of this server (or from no page at all): a browser
/// sends `Origin`, and another site's page must not chat with the visitor's cookie.
fn same_origin(hs: &Handshake) -> bool {
    let Some(origin) = hs.headers().get(ORIGIN) else {
        return true;
    };
    let host = hs.headers().get(HOST).and_then(|h| h.to_str().ok());
    let origin = origin.to_str().ok().and_then(|o| o.split_once("://"));
    matches!((origin, host), (Some((_, o)), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// The `before_connection` hook: refuses other sites' pages, finds the session (the cookie,
/// or a fresh one, set on the 101 response), and loads its nickname (a new session gets
/// `guest-XXXX`).
pub(crate) async fn admit(
    sessions: Sessions,
    config: Arc<ChatConfig>,
    mut hs: Handshake,
) -> Result<Handshake, Rejection> {
    if !same_origin(&hs) {
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            "cross-origin chat connections are not allowed",
        ));
    }
    let id = match hs.cookie(SESSION_COOKIE).filter(|id| valid_session_id(id)) {
        Some(id) => id.to_owned(),
        None => {
            let id = Sessions::new_id();
            if let Some(c) = set_cookie(&id) {
                hs.insert_response_header(SET_COOKIE, c);
            }
            id
        }
    };
    let unavailable = |e: swill::Error| {
        tracing::warn!(error = %e, "session store");
        Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the session store is unavailable",
        )
    };
    let session = sessions.get(id.clone()).map_err(unavailable)?;
    let nick = match session.get::<String>(NICK_KEY).await.map_err(unavailable)? {
        Some(nick) => nick,
        None => {
            let nick = format!("guest-{}", &Sessions::new_id()[..4]);
            session.set(NICK_KEY, &nick).await.map_err(unavailable)?;
            nick
        }
    };
    hs.extensions_mut().insert(Visitor::new(id, nick, &config));
    Ok(hs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_session_ids() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; swill_session=abc-DEF_9"),
        );
        assert_eq!(cookie(&h, "swill_session"), Some("abc-DEF_9"));
        assert_eq!(cookie(&h, "b"), None);
        assert!(valid_session_id("abc-DEF_9"));
        assert!(valid_session_id(&Sessions::new_id()));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("a b"));
        assert!(!valid_session_id(&"x".repeat(MAX_SESSION_ID_LEN + 1)));
    }
}

//! The docs page and live playground (feature `docs-page`), embedded in the binary.
//!
//! `GET <docs>` serves `index.html` with the app's config (WebSocket path, schema path,
//! title) filled in; `GET <docs>/<file>` serves the page's script and style. No CDN, no network
//! fetch besides the app's own `schema.json` and WebSocket.

use http::Request;

use crate::app::App;

const INDEX: &str = include_str!("../../assets/docs/index.html");
const APP_JS: &str = include_str!("../../assets/docs/app.js");
const MSGPACK_JS: &str = include_str!("../../assets/docs/msgpack.js");
const STYLE_CSS: &str = include_str!("../../assets/docs/style.css");

/// The body and content type for `rest` (the path after the docs prefix), if it is ours.
pub(crate) fn asset<B>(
    app: &App,
    req: &Request<B>,
    docs: &str,
    rest: &str,
) -> Option<(String, &'static str)> {
    match rest {
        "" | "/" => Some((index(app, req, docs), "text/html; charset=utf-8")),
        "/app.js" => Some((APP_JS.to_owned(), "text/javascript; charset=utf-8")),
        "/msgpack.js" => Some((MSGPACK_JS.to_owned(), "text/javascript; charset=utf-8")),
        "/style.css" => Some((STYLE_CSS.to_owned(), "text/css; charset=utf-8")),
        _ => None,
    }
}

/// The mount prefix: what an enclosing router stripped (axum's `OriginalUri`), so the page's
/// links work when the app is nested.
fn prefix<B>(req: &Request<B>) -> String {
    let Some(orig) = req.extensions().get::<axum::extract::OriginalUri>() else {
        return String::new();
    };
    let full = orig.0.path();
    let seen = req.uri().path();
    full.strip_suffix(seen).unwrap_or("").to_owned()
}

fn index<B>(app: &App, req: &Request<B>, docs: &str) -> String {
    let prefix = prefix(req);
    let config = serde_json::json!({
        "ws": format!("{prefix}{}", app.paths.ws),
        "schema": app.paths.schema.as_ref().map(|s| format!("{prefix}{s}")),
        "title": app.title,
    });
    // `</` cannot appear inside the JSON script block.
    let config = config.to_string().replace("</", "<\\/");
    INDEX
        .replace("__SWILL_CONFIG__", &config)
        .replace("__SWILL_ASSETS__", &format!("{prefix}{docs}"))
}

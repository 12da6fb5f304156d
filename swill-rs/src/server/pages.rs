//! Plain-HTTP pages of the app: `schema.json` and (feature `docs-page`) the docs page.

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

use crate::app::App;

/// Serves `schema.json` or a docs-page file for a GET on their paths; `None` otherwise.
pub(crate) fn serve_page<B>(app: &App, req: &Request<B>) -> Option<Response<Body>> {
    let path = req.uri().path();
    let api = app.api.as_ref()?;
    if app.paths.schema.as_deref() == Some(path) {
        let mut res = Response::new(Body::from(api.schema_json_bytes().clone()));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Some(res);
    }
    #[cfg(feature = "docs-page")]
    if let Some(docs) = app.paths.docs.as_deref() {
        if let Some(rest) = path.strip_prefix(docs) {
            let (body, content_type) = crate::docs_page::asset(app, req, docs, rest)?;
            let mut res = Response::new(Body::from(body));
            *res.status_mut() = StatusCode::OK;
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return Some(res);
        }
    }
    let _ = StatusCode::OK;
    None
}

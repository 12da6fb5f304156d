//! A regex constraint (`#[validate(regex(path = ...))]`) is enforced with 422 and published
//! as the field's `pattern` in schema.json (issue #3: "validator constraints reflected where
//! schemars supports them: lengths, ranges, patterns").

mod common;

use std::sync::LazyLock;

use common::*;
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use swill::{Error, Request, Swill};
use validator::Validate;

static SLUG: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[a-z][a-z0-9-]*$").unwrap());

/// A page to create.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Page {
    /// Lower-case letters, digits and dashes.
    #[validate(regex(path = *SLUG))]
    slug: String,
}

/// Creates a page.
#[swill::handler]
async fn create(req: Request<Page>) -> Result<String, Error> {
    Ok(req.into_data().slug)
}

#[tokio::test]
async fn regex_constraints_are_published_as_patterns_and_enforced() {
    let server = spawn(Swill::new().handler(create)).await;

    let res = http_get(server.addr, "/schema.json").await;
    assert_eq!(res.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    let page = &doc["$defs"]["Page"];
    assert_eq!(
        page["properties"]["slug"]["pattern"], "^[a-z][a-z0-9-]*$",
        "{doc:#}"
    );

    let client = swill::client::Client::connect(server.url())
        .with_timeout()
        .await
        .unwrap();
    let ok: String = client
        .call("create", &serde_json::json!({"slug": "hello-1"}))
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(ok, "hello-1");
    let err = client
        .call::<String>("create", &serde_json::json!({"slug": "Not A Slug"}))
        .with_timeout()
        .await
        .unwrap_err();
    let err = err.rpc().expect("a server error").clone();
    assert_eq!(err.code(), swill::Code::VALIDATION_ERROR);
    let data = serde_json::to_value(err.data().unwrap()).unwrap();
    assert_eq!(data["slug"][0]["code"], "regex", "{data:#}");
    assert!(
        data["slug"][0]["description"].as_str().is_some(),
        "{data:#}"
    );
    server.stop().await;
}

//! STYLE.md §3 and §4b for pub/sub: the core files (table, queues, messages, errors) import
//! no runtime, no web crate and no Redis client; only `pubsub/redis/` imports Redis.

use std::path::{Path, PathBuf};

const CORE: &[&str] = &["hub.rs", "queue.rs", "message.rs", "error.rs"];
const RUNTIME: &[&str] = &[
    "tokio",
    "axum",
    "hyper",
    "tower",
    "tungstenite",
    "futures",
    "futures_util",
    "redis",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pubsub")
}

fn uses(text: &str, krate: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .filter(|code| {
            code.contains(&format!("{krate}::"))
                && !code.contains(&format!("_{krate}::"))
                && !code.contains(&format!("{krate}_"))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_pubsub_core_imports_no_runtime() {
    for file in CORE {
        let text = std::fs::read_to_string(dir().join(file)).unwrap();
        for krate in RUNTIME {
            let found = uses(&text, krate);
            assert!(found.is_empty(), "pubsub/{file} uses `{krate}`: {found:?}");
        }
        for bad in [
            "crate::server",
            "crate::handler",
            "crate::client",
            "async fn",
        ] {
            assert!(!text.contains(bad), "pubsub/{file} uses `{bad}`");
        }
    }
}

#[test]
fn only_the_redis_module_imports_the_redis_client() {
    for entry in std::fs::read_dir(dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "redis" {
            assert!(entry.path().is_dir(), "pubsub/redis/ is the Redis module");
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let found = uses(&text, "redis");
        assert!(
            found.is_empty(),
            "pubsub/{name} uses the Redis client: {found:?}"
        );
    }
}

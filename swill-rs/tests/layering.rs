//! Enforces the layering rules of STYLE.md §3 by reading the sources: the sans-IO protocol
//! core imports no runtime, no I/O crate and no other swill module; the runtime-free layers
//! (handler, hooks, validate, introspect, app) import no runtime or web crate.

use std::path::{Path, PathBuf};

const RUNTIME: &[&str] = &[
    "tokio",
    "axum",
    "hyper",
    "tower",
    "tungstenite",
    "tokio_tungstenite",
    "hyper_util",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines (outside comments) that use one of `crates` as a path root.
fn offenders(paths: &[PathBuf], crates: &[&str], extra: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for c in crates {
                let used = code.contains(&format!("{c}::"))
                    && !code.contains(&format!("_{c}::"))
                    && !code.contains(&format!("{c}_"));
                if used {
                    found.push(format!(
                        "{}:{}: uses `{c}`: {}",
                        path.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
            for pat in extra {
                if code.contains(pat) {
                    found.push(format!(
                        "{}:{}: `{pat}`: {}",
                        path.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

fn src(sub: &str) -> Vec<PathBuf> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(sub);
    let mut files = Vec::new();
    // A module is `sub.rs`, `sub/` or both (`sub.rs` with its children in `sub/`).
    let file = base.with_extension("rs");
    if file.exists() {
        files.push(file);
    }
    if base.is_dir() {
        rust_files(&base, &mut files);
    }
    assert!(!files.is_empty(), "{} is missing", base.display());
    assert!(!files.is_empty(), "no sources under {sub}");
    files
}

#[test]
fn protocol_core_imports_no_runtime_and_no_other_swill_module() {
    let files = src("protocol");
    let mut crates = RUNTIME.to_vec();
    crates.extend([
        "futures",
        "futures_util",
        "validator",
        "schemars",
        "axum",
        "http",
    ]);
    let found = offenders(
        &files,
        &crates,
        &[
            "crate::handler",
            "crate::hooks",
            "crate::app",
            "crate::server",
            "crate::client",
            "crate::error",
            "crate::Error",
            "std::thread",
            "std::net",
            "Instant::now",
            "SystemTime",
            "async fn",
        ],
    );
    assert!(
        found.is_empty(),
        "the protocol core breaks STYLE.md §3:\n{}",
        found.join("\n")
    );
}

#[test]
fn runtime_free_layers_import_no_runtime() {
    let mut files = src("handler");
    for layer in ["hooks", "validate", "introspect", "app"] {
        files.extend(src(layer));
    }
    let found = offenders(
        &files,
        RUNTIME,
        &[
            "crate::server",
            "crate::client",
            "catch_unwind",
            "spawn_blocking",
        ],
    );
    assert!(
        found.is_empty(),
        "a runtime-free layer breaks STYLE.md §3:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rust_client_sees_only_the_protocol_and_the_error() {
    let files = src("client");
    let found = offenders(
        &files,
        &["axum", "hyper", "tower"],
        &[
            "crate::server",
            "crate::app",
            "crate::hooks",
            "crate::handler",
            "crate::introspect",
            "crate::validate",
        ],
    );
    assert!(
        found.is_empty(),
        "the client breaks STYLE.md §3:\n{}",
        found.join("\n")
    );
}

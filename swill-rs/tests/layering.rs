//! Enforces the layering rules of STYLE.md §3 by reading the sources:
//!
//! - every `crate::` path in every file (grouped imports `use crate::{a, b::c}` and paths
//!   written inline included) points to a module in the same or a lower layer, and the module
//!   graph has no cycle;
//! - the sans-IO protocol core imports no runtime, no I/O crate and no other swill module;
//! - the runtime-free layers import no runtime or web crate;
//! - the Rust client sees only the protocol and the error/metadata/contract layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first (STYLE.md §3). `__private` and the crate root sit above all.
const LAYERS: &[(&str, u8)] = &[
    ("protocol", 0),
    ("error", 1),
    ("contract", 1),
    ("metadata", 1),
    ("payload", 1),
    ("pubsub", 1),
    ("observe", 1),
    ("validate", 2),
    ("introspect", 2),
    ("context", 3),
    ("hooks", 4),
    ("handler", 5),
    ("app", 6),
    ("server", 7),
    ("docs_page", 7),
    ("client", 7),
    ("pubsub_backend", 7),
];

/// Names the crate root re-exports, and the module each comes from.
const ROOT_NAMES: &[(&str, &str)] = &[
    ("Error", "error"),
    ("Code", "error"),
    ("FieldError", "error"),
    ("FieldErrors", "error"),
    ("Result", "error"),
    ("Metadata", "metadata"),
    ("CallContext", "context"),
    ("Connection", "context"),
    ("Request", "handler"),
    ("Response", "handler"),
    ("Streaming", "handler"),
    ("State", "handler"),
    ("Extension", "handler"),
    ("Value", "handler"),
    ("Swill", "app"),
    ("Config", "app"),
    ("Module", "app"),
    ("Hooks", "app"),
    ("BuildError", "app"),
    ("Cidr", "app"),
    ("CidrError", "app"),
    ("DEFAULT_DECODE_BUDGET_RATIO", "payload"),
    ("DEFAULT_MIN_DECODE_BUDGET", "payload"),
    ("DEFAULT_OFFLOAD_DECODE_ABOVE", "payload"),
    ("MAX_PAYLOAD_DEPTH", "payload"),
    ("Encoded", "payload"),
    ("EncodedError", "payload"),
    ("serve", "server"),
];

/// Pub/sub files of the runtime-free core (STYLE.md §4b); the rest of `pubsub/` is the
/// driver layer (backends, the handle, subscriptions).
const PUBSUB_CORE: &[&str] = &["hub.rs", "queue.rs", "message.rs", "error.rs", "history.rs"];

const RUNTIME: &[&str] = &[
    "tokio",
    "axum",
    "hyper",
    "tower",
    "tungstenite",
    "tokio_tungstenite",
    "hyper_util",
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a source file belongs to, or `None` for the crate root and `__private`.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src_dir()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    if name == "lib" || name == "__private" {
        return None;
    }
    if name == "pubsub" {
        let file = rel.file_name()?.to_str()?;
        if !PUBSUB_CORE.contains(&file) {
            return Some("pubsub_backend".into());
        }
    }
    Some(name.to_owned())
}

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("module `{module}` is not in the LAYERS table of this test"))
}

/// The text of a file without `//` comments (doc comments included).
fn code_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| l.split("//").next().unwrap_or("").to_owned())
        .collect()
}

/// The swill modules `crate::` paths in `code` name, with the line of each.
fn crate_targets(lines: &[String]) -> Vec<(usize, String)> {
    let text: String = lines.join("\n");
    let line_of = |pos: usize| text[..pos].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("crate::") {
        let start = from + i;
        from = start + "crate::".len();
        // `$crate::` (in macros) and `extern crate self` are not imports of a module.
        if text[..start].ends_with('$') || text[..start].ends_with("_") {
            continue;
        }
        let rest = &text[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // A grouped import: every top-level name of the group.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push((line_of(start), first_segment(&item)));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            if !item.trim().is_empty() {
                out.push((line_of(start), first_segment(&item)));
            }
        } else {
            out.push((line_of(start), first_segment(rest)));
        }
    }
    out
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Resolves a first path segment under `crate::` to the module it names.
fn target_module(segment: &str) -> Option<String> {
    if segment.is_empty() || segment == "self" {
        return None;
    }
    if let Some((_, m)) = ROOT_NAMES.iter().find(|(n, _)| *n == segment) {
        return Some((*m).to_owned());
    }
    if segment == "__private" || segment.starts_with("DEFAULT_") {
        // The macro-support module and the root's limit constants (from `app`).
        return Some(
            if segment == "__private" {
                "__private"
            } else {
                "app"
            }
            .to_owned(),
        );
    }
    if segment.chars().next().is_some_and(char::is_uppercase) {
        panic!("`crate::{segment}` is a root re-export missing from ROOT_NAMES in this test");
    }
    Some(segment.to_owned())
}

#[test]
fn imports_point_down_the_layers_and_have_no_cycle() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut bad = Vec::new();
    for path in &files {
        let Some(from) = module_of(path) else {
            continue;
        };
        // Unit-test files (`tests.rs`, `tests/`) may build fixtures from any layer.
        let rel = path.strip_prefix(src_dir()).unwrap_or(path);
        if rel
            .components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "tests.rs")
        {
            continue;
        }
        for (line, segment) in crate_targets(&code_lines(path)) {
            let Some(to) = target_module(&segment) else {
                continue;
            };
            if to == from {
                continue;
            }
            if to == "__private" {
                bad.push(format!(
                    "{}:{line}: `{from}` uses `__private`, which is for macro expansions only",
                    path.display()
                ));
                continue;
            }
            let pubsub_core_to_backend = from == "pubsub" && to == "pubsub";
            if !pubsub_core_to_backend && layer(&to) > layer(&from) {
                bad.push(format!(
                    "{}:{line}: `{from}` (layer {}) imports `{to}` (layer {})",
                    path.display(),
                    layer(&from),
                    layer(&to)
                ));
            }
            graph.entry(from.clone()).or_default().insert(to);
        }
    }
    // A cycle can only close between modules of one layer; look for one anyway.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(pos) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(m.to_owned());
            cycles.push(cycle.join(" -> "));
            return;
        }
        if !done.insert(m.to_owned()) {
            return;
        }
        stack.push(m.to_owned());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, stack, done, cycles);
        }
        stack.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(
        bad.is_empty() && cycles.is_empty(),
        "the module map breaks STYLE.md §3:\n{}\n{}",
        bad.join("\n"),
        cycles.join("\n")
    );
}

#[test]
fn the_import_reader_sees_grouped_and_inline_paths() {
    let lines: Vec<String> = [
        "use crate::{handler, hooks::{A, B}, Error};",
        "fn f() { crate::server::run(); }",
        "macro_rules! m { () => { $crate::x() } }",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let got: Vec<String> = crate_targets(&lines).into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, ["handler", "hooks", "Error", "server"]);
}

/// Lines (outside comments) that use one of `crates` as a path root, or contain `extra`.
fn offenders(paths: &[PathBuf], crates: &[&str], extra: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in paths {
        for (n, code) in code_lines(path).iter().enumerate() {
            for c in crates {
                let used = code.contains(&format!("{c}::"))
                    && !code.contains(&format!("_{c}::"))
                    && !code.contains(&format!("{c}_"));
                if used {
                    found.push(format!(
                        "{}:{}: uses `{c}`: {}",
                        path.display(),
                        n + 1,
                        code.trim()
                    ));
                }
            }
            for pat in extra {
                if code.contains(pat) {
                    found.push(format!(
                        "{}:{}: `{pat}`: {}",
                        path.display(),
                        n + 1,
                        code.trim()
                    ));
                }
            }
        }
    }
    found
}

fn src(sub: &str) -> Vec<PathBuf> {
    let base = src_dir().join(sub);
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
    files
}

#[test]
fn protocol_core_imports_no_runtime_and_no_other_swill_module() {
    let files = src("protocol");
    let mut crates = RUNTIME.to_vec();
    crates.extend(["futures", "futures_util", "validator", "schemars", "http"]);
    let mut found = offenders(
        &files,
        &crates,
        &[
            "std::thread",
            "std::net",
            "Instant::now",
            "SystemTime",
            "async fn",
        ],
    );
    for path in &files {
        for (line, segment) in crate_targets(&code_lines(path)) {
            if segment != "protocol" {
                found.push(format!(
                    "{}:{line}: uses `crate::{segment}`",
                    path.display()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the protocol core breaks STYLE.md §3:\n{}",
        found.join("\n")
    );
}

#[test]
fn runtime_free_layers_import_no_runtime() {
    let mut files = Vec::new();
    for layer in [
        "error",
        "metadata",
        "validate",
        "introspect",
        "context",
        "hooks",
        "handler",
        "app",
    ] {
        files.extend(src(layer));
    }
    let found = offenders(&files, RUNTIME, &["catch_unwind", "spawn_blocking"]);
    assert!(
        found.is_empty(),
        "a runtime-free layer breaks STYLE.md §3:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rust_client_sees_only_the_protocol_and_the_error() {
    let files = src("client");
    let mut found = offenders(&files, &["axum", "hyper", "tower"], &[]);
    for path in &files {
        for (line, segment) in crate_targets(&code_lines(path)) {
            let Some(to) = target_module(&segment) else {
                continue;
            };
            if to != "client" && layer(&to) > 1 {
                found.push(format!("{}:{line}: the client uses `{to}`", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the client breaks STYLE.md §3:\n{}",
        found.join("\n")
    );
}

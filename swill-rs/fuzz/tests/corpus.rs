//! Replays every committed corpus file through its target, without libFuzzer and on the
//! stable toolchain: the fuzz smoke test of `.ci/test` (see docs/reliability.md).
//!
//! `cargo test --manifest-path swill-rs/fuzz/Cargo.toml --no-default-features`
//!
//! Structured targets decode their input exactly as `libfuzzer_sys::fuzz_target!` does
//! (`Arbitrary::arbitrary_take_rest`, inputs shorter than the size hint skipped), so a file
//! means the same steps here as under `cargo fuzz`.

use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `f` on every file of `corpus/<target>/` and on every file of
/// `regressions/<target>/` (crashes once found, kept after the fix).
fn replay(target: &str, f: impl Fn(&[u8])) {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["corpus", "regressions"] {
        let dir = manifest_dir().join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        files.extend(entries.map(|e| e.expect("corpus entry").path()));
    }
    files.sort();
    assert!(!files.is_empty(), "no corpus for {target}");
    for path in &files {
        let data = std::fs::read(path).expect("corpus file reads");
        eprintln!("{target}: {}", path.display());
        f(&data);
    }
}

fn structured<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    if data.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(data)).ok()
}

#[test]
fn decode_corpus() {
    replay("decode", swill_fuzz::decode);
}

#[test]
fn payload_corpus() {
    replay("payload", swill_fuzz::payload);
}

#[test]
fn server_corpus() {
    replay("server", |data| {
        if let Some(input) = structured::<swill_fuzz::ServerInput>(data) {
            swill_fuzz::server(&input);
        }
    });
}

#[test]
fn client_corpus() {
    replay("client", |data| {
        if let Some(steps) = structured::<Vec<swill_fuzz::ClientStep>>(data) {
            swill_fuzz::client(&steps);
        }
    });
}

/// Every protocol vector is a decode seed, and its data a payload seed: checked here even
/// if the minimised corpus dropped some of them.
#[test]
fn vectors_as_seeds() {
    for (name, frame, data) in vectors() {
        eprintln!("vector {name}");
        swill_fuzz::decode(&frame);
        if let Some(data) = data {
            swill_fuzz::payload(&data);
        }
    }
}

fn vectors() -> Vec<(String, Vec<u8>, Option<Vec<u8>>)> {
    let path = manifest_dir().join("../../docs/vectors.json");
    let text = std::fs::read_to_string(&path).expect("docs/vectors.json reads");
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).expect("vectors parse");
    all.iter()
        .map(|v| {
            let name = v["name"].as_str().unwrap_or_default().to_owned();
            let frame = unhex(v["hex"].as_str().unwrap_or_default());
            let data = v["meaning"]["data_hex"].as_str().map(unhex);
            (name, frame, data)
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("vector hex"))
        .collect()
}

/// Writes the seed corpora (`decode/<vector>`, `payload/<vector>`) into
/// `$SWILL_FUZZ_SEEDS`; `run.sh --seed` uses it to start from docs/vectors.json.
#[test]
#[ignore = "writes files; run by `run.sh --seed`"]
fn write_seeds() {
    let out = PathBuf::from(std::env::var("SWILL_FUZZ_SEEDS").expect("SWILL_FUZZ_SEEDS is set"));
    for target in ["decode", "payload"] {
        std::fs::create_dir_all(out.join(target)).expect("seed dir");
    }
    for (name, frame, data) in vectors() {
        std::fs::write(out.join("decode").join(&name), frame).expect("seed writes");
        if let Some(data) = data {
            std::fs::write(out.join("payload").join(&name), data).expect("seed writes");
        }
    }
}

//! Keeps the Rust snippets of `README.md` and `docs/guide.md` identical to the marked regions
//! of this crate's sources, which `cargo test -p doc-snippets` compiles.
//!
//! A region is written in any file under `src/`:
//!
//! ```text
//! // snippet: guide/handlers-add
//! ...the exact lines of the markdown block (indented as the context needs)...
//! // end snippet
//! ```
//!
//! Every block fenced ```` ```rust ```` (also ```` ```rust,no_run ```` and the like) must equal
//! the dedented text of exactly one region, line by line with trailing whitespace ignored,
//! and every region must equal some block.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The markdown files whose Rust blocks are checked, relative to the workspace root.
const MARKDOWN: &[&str] = &["docs/guide.md", "README.md"];

const REGION_START: &str = "// snippet:";
const REGION_END: &str = "// end snippet";

/// One ```rust block of a markdown file.
#[derive(Debug, PartialEq)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The block's lines, trailing whitespace removed, dedented by the fence's indentation.
    text: Vec<String>,
}

/// One marked region of a source file.
#[derive(Debug, PartialEq)]
struct Region {
    name: String,
    /// 1-based line of the `// snippet:` marker.
    line: usize,
    /// The region's lines, dedented and trailing whitespace removed.
    text: Vec<String>,
}

/// Whether a fence's info string (after the backticks) marks a Rust block.
fn is_rust(info: &str) -> bool {
    let lang = info
        .split(|c: char| c == ',' || c.is_whitespace())
        .next()
        .unwrap_or("");
    lang == "rust"
}

/// The fenced blocks of a markdown text whose language is Rust.
fn rust_blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        let fence = line.trim_start().chars().take_while(|&c| c == '`').count();
        if fence < 3 {
            continue;
        }
        let info = &line.trim_start()[fence..];
        let mut text = Vec::new();
        let mut closed = false;
        for (_, inner) in lines.by_ref() {
            // A closing fence is a line of at least as many backticks and nothing else.
            let inner_trimmed = inner.trim();
            if inner_trimmed.len() >= fence && inner_trimmed.chars().all(|c| c == '`') {
                closed = true;
                break;
            }
            let inner = inner.trim_end();
            let strip = inner.len() - inner.trim_start().len();
            text.push(inner[strip.min(indent)..].to_string());
        }
        if !closed {
            return Err(format!("line {}: code block never closed", i + 1));
        }
        if is_rust(info.trim()) {
            blocks.push(Block { line: i + 1, text });
        }
    }
    Ok(blocks)
}

/// Removes the common leading whitespace of the non-blank lines and all trailing whitespace.
fn dedent(lines: &[&str]) -> Vec<String> {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            let l = l.trim_end();
            if l.is_empty() {
                String::new()
            } else {
                l[indent..].to_string()
            }
        })
        .collect()
}

/// The marked regions of a source text.
fn regions(source: &str) -> Result<Vec<Region>, String> {
    let mut found = Vec::new();
    let mut open: Option<(String, usize, Vec<&str>)> = None;
    for (i, line) in source.lines().enumerate() {
        let marker = line.trim();
        if let Some(name) = marker.strip_prefix(REGION_START) {
            if let Some((name, start, _)) = &open {
                return Err(format!(
                    "line {}: region `{name}` (line {start}) is not closed before the next one",
                    i + 1
                ));
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("line {}: a region needs a name", i + 1));
            }
            open = Some((name.to_string(), i + 1, Vec::new()));
        } else if marker == REGION_END {
            let Some((name, line, body)) = open.take() else {
                return Err(format!("line {}: `{REGION_END}` without a region", i + 1));
            };
            found.push(Region {
                name,
                line,
                text: dedent(&body),
            });
        } else if let Some((_, _, body)) = &mut open {
            body.push(line);
        }
    }
    if let Some((name, line, _)) = open {
        return Err(format!("line {line}: region `{name}` is never closed"));
    }
    Ok(found)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_snippet_is_compiled_by_this_crate() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.join("../..");

    let mut all_regions = Vec::new();
    let mut files = Vec::new();
    rust_files(&crate_dir.join("src"), &mut files);
    for file in &files {
        let source = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let shown = file
            .strip_prefix(crate_dir)
            .unwrap_or(file)
            .display()
            .to_string();
        let found =
            regions(&source).unwrap_or_else(|e| panic!("examples/doc-snippets/{shown}: {e}"));
        all_regions.extend(
            found
                .into_iter()
                .map(|r| (format!("examples/doc-snippets/{shown}"), r)),
        );
    }

    let mut problems = String::new();
    let mut used = vec![0usize; all_regions.len()];
    for md in MARKDOWN {
        let text = std::fs::read_to_string(root.join(md))
            .unwrap_or_else(|e| panic!("cannot read {md}: {e}"));
        let blocks = rust_blocks(&text).unwrap_or_else(|e| panic!("{md}: {e}"));
        assert!(
            !blocks.is_empty(),
            "{md} has no ```rust block; is the path right?"
        );
        for block in blocks {
            let matches: Vec<usize> = all_regions
                .iter()
                .enumerate()
                .filter(|(_, (_, r))| r.text == block.text)
                .map(|(i, _)| i)
                .collect();
            for &i in &matches {
                used[i] += 1;
            }
            match matches.len() {
                1 => {}
                0 => {
                    let _ = writeln!(
                        problems,
                        "\n{md}:{}: this ```rust block is not compiled by examples/doc-snippets.\n\
                         Add (or update) a region in examples/doc-snippets/src/ holding exactly these lines,\n\
                         between `{REGION_START} NAME` and `{REGION_END}`, with the context that makes it compile:\n{}",
                        block.line,
                        indent_for_message(&block.text)
                    );
                }
                _ => {
                    let names: Vec<String> = matches
                        .iter()
                        .map(|&i| {
                            format!(
                                "{}:{} ({})",
                                all_regions[i].0, all_regions[i].1.line, all_regions[i].1.name
                            )
                        })
                        .collect();
                    let _ = writeln!(
                        problems,
                        "\n{md}:{}: this ```rust block matches {} regions ({}); keep exactly one.",
                        block.line,
                        matches.len(),
                        names.join(", ")
                    );
                }
            }
        }
    }
    for (i, (file, region)) in all_regions.iter().enumerate() {
        if used[i] == 0 {
            let _ = writeln!(
                problems,
                "\n{file}:{}: region `{}` matches no ```rust block of {}: it is stale.\n\
                 Update it to the markdown block it stands for, or remove it:\n{}",
                region.line,
                region.name,
                MARKDOWN.join(" or "),
                indent_for_message(&region.text)
            );
        }
    }
    assert!(problems.is_empty(), "snippets out of sync:{problems}");
}

fn indent_for_message(lines: &[String]) -> String {
    lines.iter().map(|l| format!("    | {l}\n")).collect()
}

#[test]
fn extracts_rust_blocks_only() {
    let md = "intro\n\
              ```rust\nfn a() {}   \n```\n\
              ```rust,no_run\nlet x = 1;\n```\n\
              ```text\nnot rust\n```\n\
              ```sh\ncargo run\n```\n\
              ```\nno language\n```\n\
              - item\n  ```rust\n      indented();\n  ```\n\
              ```rustc\nnot rust either\n```\n";
    let blocks = rust_blocks(md).unwrap();
    assert_eq!(
        blocks,
        vec![
            Block {
                line: 2,
                text: vec!["fn a() {}".into()]
            },
            Block {
                line: 5,
                text: vec!["let x = 1;".into()]
            },
            Block {
                line: 18,
                text: vec!["    indented();".into()]
            },
        ]
    );
    assert!(rust_blocks("```rust\nfn a() {}\n").is_err());
    // A longer fence may hold a shorter one.
    assert_eq!(
        rust_blocks("````rust\n/// ```\n/// doc();\n/// ```\nfn a() {}\n````\n").unwrap(),
        vec![Block {
            line: 1,
            text: vec![
                "/// ```".into(),
                "/// doc();".into(),
                "/// ```".into(),
                "fn a() {}".into()
            ],
        }]
    );
}

#[test]
fn info_strings() {
    assert!(is_rust("rust"));
    assert!(is_rust("rust,no_run"));
    assert!(is_rust("rust ignore"));
    assert!(!is_rust("ts"));
    assert!(!is_rust("rusty"));
    assert!(!is_rust(""));
}

#[test]
fn dedents_and_trims() {
    assert_eq!(
        dedent(&["    fn a() {", "        b();  ", "", "    }"]),
        vec!["fn a() {", "    b();", "", "}"]
    );
    assert_eq!(dedent(&["  ", "x"]), vec!["", "x"]);
    assert!(dedent(&[]).is_empty());
}

#[test]
fn finds_regions() {
    let src = "fn ctx() {\n    // snippet: one\n    let a = 1;\n\n        nested();\n    // end snippet\n}\n\
               // snippet: two\n// end snippet\n";
    assert_eq!(
        regions(src).unwrap(),
        vec![
            Region {
                name: "one".into(),
                line: 2,
                text: vec!["let a = 1;".into(), String::new(), "    nested();".into()],
            },
            Region {
                name: "two".into(),
                line: 8,
                text: vec![]
            },
        ]
    );
    assert!(regions("// snippet: a\n").is_err());
    assert!(regions("// end snippet\n").is_err());
    assert!(regions("// snippet: a\n// snippet: b\n// end snippet\n").is_err());
    assert!(regions("// snippet:\n// end snippet\n").is_err());
}

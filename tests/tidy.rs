//! House rules that keep the tree readable: every module says what it is for (`//!` first), and
//! function files under `api/` stay wiring (at most 25 lines).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let mut files = Vec::new();
    for dir in ["lib", "api", "cli", "tests"] {
        rust_files(&root().join(dir), &mut files);
    }
    let undocumented: Vec<String> = files
        .iter()
        .filter(|path| !path.ends_with("config/tests.rs")) // a `#[cfg(test)] mod tests;` body
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("read source");
            !text.trim_start().starts_with("//!")
        })
        .map(|path| path.strip_prefix(root()).unwrap_or(path).display().to_string())
        .collect();
    assert!(undocumented.is_empty(), "modules without a `//!` line: {undocumented:?}");
}

#[test]
fn function_files_are_wiring_only() {
    let mut files = Vec::new();
    rust_files(&root().join("api"), &mut files);
    assert!(!files.is_empty());
    for path in files {
        let lines = std::fs::read_to_string(&path).expect("read").lines().count();
        assert!(lines <= 25, "{} has {lines} lines; api/*.rs is wiring only (≤ 25)", path.display());
    }
}

#[test]
fn every_api_file_is_a_cargo_bin() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let mut files = Vec::new();
    rust_files(&root().join("api"), &mut files);
    for path in files {
        let relative = path.strip_prefix(root()).expect("under root").display().to_string();
        assert!(manifest.contains(&format!("path = \"{relative}\"")), "{relative} is not a [[bin]]");
    }
}

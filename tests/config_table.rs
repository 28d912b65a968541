//! The README's configuration table and the code that reads the environment stay in step:
//! every variable named in `lib/config` (where every variable is read) or read with
//! `std::env::var` anywhere in `lib/` or `cli/` has a row, every row names a variable the code
//! reads, and every row says on which targets the variable is required.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The string literals of `source` (no escapes inside variable names, so a plain scan does).
fn literals(source: &str) -> Vec<&str> {
    source.split('"').skip(1).step_by(2).collect()
}

fn is_variable_name(text: &str) -> bool {
    text.len() > 2
        && text.starts_with(|c: char| c.is_ascii_uppercase())
        && text.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Variables named in `lib/config` (its tests excepted): every upper-case string literal, the
/// rate-limit classes (`class("WRITE", …)`) expanded into the `format!` names they build.
fn config_variables() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("lib/config"), &mut files);
    let mut names = BTreeSet::new();
    let mut templates = Vec::new();
    let mut classes = BTreeSet::new();
    for file in files.iter().filter(|f| !f.ends_with("tests.rs")) {
        let source = std::fs::read_to_string(file).expect("source");
        for (index, _) in source.match_indices("class(\"") {
            let rest = &source[index + 7..];
            classes.insert(rest[..rest.find('"').expect("closing quote")].to_owned());
        }
        for literal in literals(&source) {
            if let Some((prefix, suffix)) = literal.split_once("{name}") {
                templates.push((prefix.to_owned(), suffix.to_owned()));
            } else if is_variable_name(literal) {
                names.insert(literal.to_owned());
            }
        }
    }
    assert!(!classes.is_empty() && !templates.is_empty(), "the rate-limit class names are no longer found");
    for class in &classes {
        names.remove(class); // a class name, not a variable
        for (prefix, suffix) in &templates {
            names.insert(format!("{prefix}{class}{suffix}"));
        }
    }
    names
}

/// Variables read with `std::env::var(…)` / `var_os(…)` outside `lib/config` (`PORT` in
/// `lib/host`, `DATABASE_URL` in the CLI's `migrate`).
fn direct_reads() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("lib"), &mut files);
    rust_files(&root().join("cli"), &mut files);
    let mut names = BTreeSet::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("source");
        for call in ["env::var(\"", "env::var_os(\""] {
            for (index, _) in source.match_indices(call) {
                let rest = &source[index + call.len()..];
                names.insert(rest[..rest.find('"').expect("closing quote")].to_owned());
            }
        }
    }
    names.remove("PATH"); // the embedded cluster's search for PostgreSQL binaries: not configuration
    names
}

/// The README table's rows: the variables (and aliases) each names, and its "required on" cell.
fn readme_rows() -> Vec<(BTreeSet<String>, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme.split("\n## Configuration\n").nth(1).expect("a Configuration section");
    let section = section.split("\n## ").next().expect("section");
    let mut lines = section.lines().filter(|l| l.starts_with('|'));
    let header: Vec<&str> = lines.next().expect("a table").split('|').map(str::trim).collect();
    assert_eq!(
        header,
        ["", "variable", "aliases", "default", "required on", "read by", "meaning", ""],
        "the table's columns"
    );
    lines
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            assert!(cells.len() >= 6, "a row with every column: {line}");
            let names = cells[0..2]
                .join(" ")
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|name| is_variable_name(name))
                .map(str::to_owned)
                .collect();
            (names, cells[3].trim().to_owned())
        })
        .collect()
}

#[test]
fn every_variable_the_code_reads_has_a_row_and_every_row_is_read() {
    let mut code = config_variables();
    code.extend(direct_reads());
    let rows = readme_rows();
    let table: BTreeSet<String> = rows.iter().flat_map(|(names, _)| names.iter().cloned()).collect();
    let undocumented: Vec<&String> = code.difference(&table).collect();
    assert!(undocumented.is_empty(), "read in code, missing from the README's table: {undocumented:?}");
    let unread: Vec<&String> = table.difference(&code).collect();
    assert!(unread.is_empty(), "in the README's table, read nowhere in lib/config (or lib/host): {unread:?}");
    assert!(code.len() > 80, "the scan found {} variables: {code:?}", code.len());
}

#[test]
fn every_row_says_where_it_is_required_and_the_required_ones_match_check_env() {
    let rows = readme_rows();
    for (names, required) in &rows {
        assert!(!required.is_empty(), "{names:?}: an empty \"required on\" cell");
    }
    let required_on = |name: &str| {
        rows.iter()
            .find(|(names, _)| names.contains(name))
            .map(|(_, required)| required.clone())
            .unwrap_or_else(|| panic!("no row for {name}"))
    };
    // What `atoms check-env --target production` reports missing on an empty environment is
    // exactly what the table says production requires (beside alternatives it names).
    let report = atoms::check_env::check(&|_| None, Some(atoms::config::Target::Production));
    let missing: BTreeSet<String> = report.problems.iter().map(|p| p.variable.clone()).collect();
    assert_eq!(
        missing,
        [
            "ATOMS_SESSION_KEY",
            "AUTHKIT_DOMAIN",
            "KV_REST_API_URL",
            "PUBLIC_URL",
            "SUPABASE_URL",
            "WORKOS_API_KEY",
            "WORKOS_CLIENT_ID"
        ]
        .map(str::to_owned)
        .into(),
        "check-env's list changed: update the README's \"required on\" column and this test"
    );
    for name in &missing {
        let cell = required_on(name);
        assert!(cell.contains("production") && cell.contains("preview"), "{name}: {cell}");
    }
    for alternative in ["DATABASE_URL", "REDIS_URL", "KV_REST_API_TOKEN", "SUPABASE_ANON_KEY"] {
        assert!(required_on(alternative).contains("production"), "{alternative}");
    }
    for optional in ["LOG_LEVEL", "CACHE_TTL_SECONDS", "METRICS_TOKEN", "PORT"] {
        assert_eq!(required_on(optional), "—", "{optional}");
    }
}

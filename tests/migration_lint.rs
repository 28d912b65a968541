//! The migration linter's contract (`.squawk.toml`, run over new files by `scripts/test`):
//! migrations stay backward-compatible with the previous deployment, so a rollback never needs a
//! down-migration. These tests pin that the configuration really refuses what would break the
//! deployment before it, accepts the expand-then-contract shape the README describes, and that
//! its list of unlinted history is frozen (no new file can hide in it).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The last migration applied before the linter existed; `excluded_paths` holds exactly the files
/// up to it.
const BASELINE: &str = "20261129000700";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn squawk() -> PathBuf {
    let path = support::test_tools_dir().join("ops/bin/squawk");
    assert!(
        path.is_file(),
        "squawk is missing at {}: run scripts/test (it installs tests/support/ops/requirements.txt \
         into target/test-tools/ops)",
        path.display()
    );
    path
}

/// Lints `sql` as a new migration file with the repository's configuration; returns the exit
/// status and the rule names squawk reported.
fn lint(sql: &str) -> (bool, Vec<String>) {
    let dir = support::TempDir::new("squawk");
    let file = dir.0.join("20990101000000_candidate.sql");
    std::fs::write(&file, sql).expect("write the candidate migration");
    let output = Command::new(squawk())
        .arg("--config")
        .arg(root().join(".squawk.toml"))
        .args(["--reporter", "gcc"])
        .arg(&file)
        .current_dir(&dir.0)
        .output()
        .expect("run squawk");
    let text =
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    // gcc format: `<file>:<line>:<col>: warning: <rule> <message>`
    let rules = text
        .lines()
        .filter_map(|line| line.split_once(": warning: ").or_else(|| line.split_once(": error: ")))
        .filter_map(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
        .collect();
    (output.status.success(), rules)
}

/// What a new migration starts with (README: "Migrations on Supabase").
const PREAMBLE: &str = "set local lock_timeout = '5s';\nset local statement_timeout = '60s';\n";

#[test]
fn changes_that_break_the_previous_deployment_are_refused() {
    let cases = [
        ("alter table public.atoms_entities drop column name;", "ban-drop-column"),
        ("alter table public.atoms_entities rename column name to title;", "renaming-column"),
        ("alter table public.atoms_entities rename to atoms_things;", "renaming-table"),
        ("drop table public.atoms_audit_log;", "ban-drop-table"),
        ("drop function public.atoms_entity_get(jsonb);", "ban-drop-function"),
        ("alter table public.atoms_entities alter column name type varchar(100);", "changing-column-type"),
        ("alter table public.atoms_entities add column owner text not null;", "adding-required-field"),
        (
            "alter table public.atoms_entities alter column description set not null;",
            "adding-not-nullable-field",
        ),
    ];
    for (statement, rule) in cases {
        let (passed, rules) = lint(&format!("{PREAMBLE}{statement}\n"));
        assert!(!passed, "squawk accepted a breaking change: {statement}");
        assert!(rules.iter().any(|r| r == rule), "{statement}: expected {rule}, squawk said {rules:?}");
    }
}

#[test]
fn a_file_without_lock_and_statement_timeouts_is_refused() {
    let (passed, rules) = lint("alter table public.atoms_entities add column note text;\n");
    assert!(!passed);
    assert!(rules.contains(&"require-lock-timeout".to_owned()), "{rules:?}");
    assert!(rules.contains(&"require-statement-timeout".to_owned()), "{rules:?}");
}

#[test]
fn additive_changes_pass() {
    let sql = format!(
        "{PREAMBLE}\
         alter table public.atoms_entities add column note text;\n\
         create table public.atoms_notes (id bigint generated always as identity primary key, body text not null);\n\
         create index atoms_notes_body on public.atoms_notes (body);\n\
         create or replace function public.atoms_note_count(jsonb) returns jsonb language sql as $$ select '0'::jsonb $$;\n"
    );
    let (passed, rules) = lint(&sql);
    assert!(passed, "squawk refused an additive migration: {rules:?}");
}

#[test]
fn a_justified_exception_is_written_on_the_statement() {
    let sql = format!(
        "{PREAMBLE}-- Contract step: nothing calls the old helper since the last deployment.\n\
         -- squawk-ignore ban-drop-function\n\
         drop function public.atoms_old_helper(jsonb);\n"
    );
    let (passed, rules) = lint(&sql);
    assert!(passed, "{rules:?}");
}

#[test]
fn the_unlinted_history_is_frozen_at_the_baseline() {
    let config = std::fs::read_to_string(root().join(".squawk.toml")).expect(".squawk.toml");
    let excluded = excluded_paths(&config);
    let history: Vec<String> = migration_files(&root().join("migrations"))
        .into_iter()
        .filter(|file| version(file) <= BASELINE)
        .collect();
    let newer: Vec<&String> = excluded.iter().filter(|path| !history.contains(path)).collect();
    assert!(
        newer.is_empty(),
        ".squawk.toml excludes files that are not history (newer than {BASELINE}, or missing): \
         {newer:?}; a new migration passes squawk, or justifies a rule on the statement with \
         `-- squawk-ignore <rule>`"
    );
    assert_eq!(excluded, history, "excluded_paths lists exactly the files up to {BASELINE}");
}

/// The `excluded_paths = [ "…", … ]` entries of the config (one string per line).
fn excluded_paths(config: &str) -> Vec<String> {
    let start = config.find("excluded_paths").expect("excluded_paths in .squawk.toml");
    let list = &config[start..];
    let list = &list[list.find('[').expect("[") + 1..list.find(']').expect("]")];
    list.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim().trim_end_matches(','))
        .filter(|entry| !entry.is_empty())
        .map(|entry| entry.trim_matches('"').to_owned())
        .collect()
}

/// `migrations/20261122000100_x.sql` → `20261122000100`.
fn version(file: &str) -> &str {
    let name = file.trim_start_matches("migrations/");
    name.split('_').next().unwrap_or(name)
}

fn migration_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("migrations/")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .map(|name| format!("migrations/{name}"))
        .collect();
    files.sort();
    files
}

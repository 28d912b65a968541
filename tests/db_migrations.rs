//! `atoms migrate`: applies to an empty database, is a no-op when up to date, refuses edited
//! history; the files are plain timestamped SQL that `supabase db push` accepts.

mod support;

use atoms::db::migrate::{MIGRATIONS, MigrateError, migrate};

#[tokio::test]
async fn migrations_apply_to_an_empty_database_then_are_a_no_op() {
    let url = support::postgres::empty_database().await;
    let first = migrate(&url).await.expect("apply");
    assert_eq!(first.applied.len(), MIGRATIONS.len());
    assert_eq!(first.up_to_date, 0);
    let second = migrate(&url).await.expect("re-apply");
    assert!(second.applied.is_empty(), "{:?}", second.applied);
    assert_eq!(second.up_to_date, MIGRATIONS.len());
}

#[tokio::test]
async fn concurrent_runs_apply_each_file_once() {
    let url = support::postgres::empty_database().await;
    let (a, b) = tokio::join!(migrate(&url), migrate(&url));
    let (a, b) = (a.expect("first runner"), b.expect("second runner"));
    assert_eq!(a.applied.len() + b.applied.len(), MIGRATIONS.len());
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused() {
    let url = support::postgres::fresh_database().await;
    let (client, connection) =
        tokio_postgres::connect(url.expose(), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute(
            "update atoms_private.schema_migrations set checksum = 'edited' where version = '20261122000200'",
        )
        .await
        .expect("tamper");
    match migrate(&url).await {
        Err(MigrateError::Changed(file)) => assert_eq!(file, "20261122000200_schema"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn migration_files_are_timestamped_plain_sql_and_all_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("migrations/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    for file in &files {
        let (stamp, rest) = file.split_once('_').expect("<timestamp>_<name>.sql");
        assert!(stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()), "{file}: 14-digit timestamp");
        assert!(rest.ends_with(".sql"), "{file}");
        let sql = std::fs::read_to_string(dir.join(file)).expect("read");
        assert!(!sql.contains("\\i ") && !sql.contains("\\connect"), "{file}: no psql meta-commands");
    }
    let embedded: Vec<String> = MIGRATIONS.iter().map(|m| format!("{}.sql", m.file)).collect();
    assert_eq!(files, embedded, "lib/db/migrate.rs must list every file of migrations/, in order");
}

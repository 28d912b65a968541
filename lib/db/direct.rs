//! The direct Postgres adapter (`DATABASE_URL`): each call is one simple-query message — one
//! network round trip — doing what PostgREST does:
//!
//! ```sql
//! set local role authenticated;
//! set local statement_timeout = <ms>;
//! set local request.jwt.claims = <claims>;
//! set local request.headers = <headers>;
//! select public.<function>(<args>::jsonb)::text;
//! ```
//!
//! The statements of one simple-query message run as one implicit transaction (`SET LOCAL`
//! included): it commits when the last one succeeds, and an error rolls all of it back and
//! ends it — the connection is idle again either way, with nothing left to send.
//!
//! The simple query protocol uses no prepared statements at all, so the adapter works behind
//! PgBouncer / Supavisor in transaction mode. Values travel as dollar-quoted literals with a
//! random tag that is checked not to occur in the value.

use std::time::Duration;

use serde_json::Value;
use tokio_postgres::SimpleQueryMessage;

use super::pool::Pool;
use super::{DbError, Identity};
use crate::secret::Secret;

pub struct DirectDb {
    pool: Pool,
    statement_timeout: Duration,
}

impl DirectDb {
    pub fn new(url: &Secret, pool_size: usize, statement_timeout: Duration) -> Result<Self, DbError> {
        let mut config: tokio_postgres::Config = url
            .expose()
            .parse()
            .map_err(|_| DbError::Internal("DATABASE_URL is not a valid Postgres URL".to_owned()))?;
        config.application_name("atoms");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(statement_timeout.min(Duration::from_secs(5)));
        }
        Ok(Self { pool: Pool::new(config, pool_size, statement_timeout), statement_timeout })
    }

    /// Calls `public.<function>(args)` as `identity` in one transaction: its JSON as Postgres
    /// writes it (`null` for SQL NULL).
    pub async fn rpc_text(
        &self,
        function: &str,
        args: &Value,
        identity: &Identity,
    ) -> Result<String, DbError> {
        self.run(&rpc_sql(function, args, identity, self.statement_timeout)).await
    }

    /// `select 1`, for health checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run("select '1'").await.map(drop)
    }

    /// Runs a simple query (with no transaction control of its own) and returns the first
    /// column of its last row (`null` for SQL NULL).
    ///
    /// The connection goes back to the pool only once the server has answered the whole
    /// message — committed, or (on an error it reports) rolled back the implicit transaction.
    /// If this future is dropped mid-query, or the connection fails, it is closed instead (the
    /// server then rolls back) — never handed, mid-transaction, to the next caller.
    async fn run(&self, sql: &str) -> Result<String, DbError> {
        let mut connection = self.pool.get().await?;
        // The server enforces the statement timeout; this bound also covers a dead network.
        let bound = self.statement_timeout + Duration::from_secs(2);
        let outcome = tokio::time::timeout(bound, last_value(connection.client(), sql)).await;
        match outcome {
            Ok(Ok(value)) => {
                connection.release();
                Ok(value.unwrap_or_default())
            }
            Ok(Err(error)) => {
                // An error the server reported ended the implicit transaction; anything else
                // (the connection broke, or the server is ending the session: FATAL, PANIC)
                // leaves the connection to be closed.
                let statement_failed = error
                    .as_db_error()
                    .is_some_and(|db| db.parsed_severity() == Some(tokio_postgres::error::Severity::Error));
                if statement_failed {
                    connection.release();
                }
                Err(map_error(&error))
            }
            Err(_) => Err(DbError::Timeout),
        }
    }
}

/// The one simple query of a call of `public.<function>(args)` as `identity` (the module doc's
/// transaction). `function` must be a checked Atoms function name (`Db::rpc` checks it).
pub fn rpc_sql(function: &str, args: &Value, identity: &Identity, statement_timeout: Duration) -> String {
    let args = serde_json::to_string(args).unwrap_or_else(|_| "null".to_owned());
    // The statements' own text and the claims are under 512 bytes: one allocation in the
    // common case.
    let mut sql = String::with_capacity(512 + function.len() + args.len());
    sql.push_str("set local role authenticated;\nset local statement_timeout = ");
    sql.push_str(&statement_timeout.as_millis().to_string());
    sql.push_str(";\nset local request.jwt.claims = ");
    push_dollar_quoted_with(&mut sql, |sql| identity.push_claims_json(sql));
    sql.push_str(";\nset local request.headers = ");
    push_dollar_quoted_with(&mut sql, |sql| identity.push_headers_json(sql));
    sql.push_str(";\nselect public.");
    sql.push_str(function);
    sql.push('(');
    push_dollar_quoted(&mut sql, &args);
    sql.push_str("::jsonb)::text;");
    sql
}

/// Runs `sql` (a simple query) to its end: the first column of its last row — the function's
/// own result, `null` when it returned NULL. The rows are read as they come, none kept but
/// the last (`simple_query` would collect every message first).
pub(crate) async fn last_value(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    use futures_core::Stream;
    let mut stream = std::pin::pin!(client.simple_query_raw(sql).await?);
    let mut last = None;
    while let Some(message) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        if let SimpleQueryMessage::Row(row) = message? {
            last = Some(row);
        }
    }
    Ok(last.map(|row| row.get(0).unwrap_or("null").to_owned()))
}

fn map_error(error: &tokio_postgres::Error) -> DbError {
    match error.as_db_error() {
        Some(db) => DbError::from_sqlstate(db.code().code(), db.message()),
        None if error.is_closed() => DbError::Unavailable("the database connection closed".to_owned()),
        None => DbError::Unavailable("the database connection failed".to_owned()),
    }
}

/// `value` as a dollar-quoted literal whose tag does not occur in it — nor across its end:
/// `x$a` followed by the closing `$a$` would read `x` + `$a$` + `a$`, so the check is on
/// `value` + tag.
pub(crate) fn dollar_quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 6);
    push_dollar_quoted(&mut quoted, value);
    quoted
}

/// [`dollar_quote`] appended to `sql`.
fn push_dollar_quoted(sql: &mut String, value: &str) {
    push_dollar_quoted_with(sql, |sql| sql.push_str(value));
}

/// What `write` appends, as a [`dollar_quote`]d literal, written in place.
fn push_dollar_quoted_with(sql: &mut String, write: impl FnOnce(&mut String)) {
    let start = sql.len();
    sql.push_str("$a$");
    write(sql);
    // The common case without searching copies: with no `$a` inside, `$a$` can neither occur
    // in the value nor start inside it and run across its end.
    if !sql[start + 3..].contains("$a") {
        sql.push_str("$a$");
        return;
    }
    let value = sql.split_off(start + 3);
    sql.truncate(start);
    let mut tag = String::from("$a$");
    // The literal ends at the first tag after the opening one: it must be the closing tag.
    while format!("{value}{tag}").find(&tag) != Some(value.len()) {
        tag = format!("$a{}$", uuid::Uuid::new_v4().simple());
    }
    sql.push_str(&tag);
    sql.push_str(&value);
    sql.push_str(&tag);
}

#[cfg(test)]
mod tests {
    use super::{Identity, dollar_quote, rpc_sql};
    use std::time::Duration;

    #[test]
    fn the_call_is_one_transaction_with_every_value_quoted() {
        let mut who = Identity::new("user_1");
        who.request_id = Some("req-1".into());
        let args = serde_json::json!({"entity_id": "x$a$; drop table atoms_users; --"});
        let sql = rpc_sql("atoms_entity_get", &args, &who, Duration::from_millis(5000));
        let (head, call) = sql.split_once("select public.atoms_entity_get(").expect("the call");
        assert_eq!(
            head,
            "set local role authenticated;\nset local statement_timeout = 5000;\n\
             set local request.jwt.claims = $a${\"sub\":\"user_1\",\"role\":\"authenticated\",\"aud\":\"authenticated\"}$a$;\n\
             set local request.headers = $a${\"x-request-id\":\"req-1\"}$a$;\n"
        );
        let literal = call.strip_suffix("::jsonb)::text;").expect("the end");
        // The argument carries `$a$`: it travels under another tag, whole.
        assert!(!literal.starts_with("$a$"));
        let tag = &literal[..literal[1..].find('$').map(|i| i + 2).expect("tag")];
        let body = &literal[tag.len()..literal.len() - tag.len()];
        assert_eq!(serde_json::from_str::<serde_json::Value>(body).expect("JSON"), args);
    }

    #[test]
    fn claims_holding_the_tag_are_quoted_under_another() {
        let mut who = Identity::new("user$a$; reset role; --");
        who.email = Some("x$a".into());
        who.request_id = Some("$a$".into());
        let sql = rpc_sql("atoms_entity_get", &serde_json::json!({}), &who, Duration::from_millis(5000));
        let literal_after = |prefix: &str| {
            let rest = &sql[sql.find(prefix).expect(prefix) + prefix.len()..];
            let tag = &rest[..rest[1..].find('$').map(|i| i + 2).expect("tag")];
            let close = rest[tag.len()..].find(tag).expect("closing tag") + tag.len();
            assert_eq!(&rest[close + tag.len()..close + tag.len() + 2], ";\n", "{sql}");
            (tag.to_owned(), rest[tag.len()..close].to_owned())
        };
        let (tag, claims) = literal_after("set local request.jwt.claims = ");
        assert_ne!(tag, "$a$");
        assert_eq!(claims, who.claims_json());
        let (tag, headers) = literal_after("set local request.headers = ");
        assert_ne!(tag, "$a$");
        assert_eq!(headers, who.headers_json());
    }

    #[test]
    fn dollar_quoting_never_lets_the_value_close_the_literal() {
        assert_eq!(dollar_quote("{\"a\":1}"), "$a${\"a\":1}$a$");
        let hostile = "x$a$; drop table atoms_users; --";
        let quoted = dollar_quote(hostile);
        let tag = &quoted[..quoted[1..].find('$').map(|i| i + 2).expect("tag")];
        assert_ne!(tag, "$a$");
        assert!(!hostile.contains(tag));
        assert_eq!(&quoted[tag.len()..quoted.len() - tag.len()], hostile);
    }

    #[test]
    fn a_tag_overlapping_the_end_of_the_value_is_not_used() {
        for value in ["x$a", "db$a", "$a", "x$"] {
            let quoted = dollar_quote(value);
            let tag = &quoted[..quoted[1..].find('$').map(|i| i + 2).expect("tag")];
            let body_and_close = &quoted[tag.len()..];
            assert_eq!(body_and_close.find(tag), Some(value.len()), "{value} → {quoted}");
        }
    }
}

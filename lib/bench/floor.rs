//! The floor under `atoms bench tools`' CPU figure: the least a process can do to serve a
//! `read_entity` call over HTTP. A bare hyper server on a current-thread runtime (as `atoms
//! serve` runs) reads each request whole, sends the simple query the direct adapter sends for
//! that call over one tokio-postgres connection, and answers with the function's JSON text — no
//! routing, no MCP, no JSON parsing. Its CPU per call is what reading a request, asking Postgres
//! over a socket and answering costs on the machine (mostly kernel time on a VM), so `atoms
//! serve`'s CPU above it is what Atoms itself spends.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::json;

use crate::db::Identity;
use crate::db::direct::{last_value, rpc_sql};
use crate::secret::Secret;

/// Serves on loopback `port` until killed; every request runs `atoms_entity_get` for `entity_id`
/// as the local user.
pub async fn floor_server(port: u16, database_url: &Secret, entity_id: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(database_url.expose(), tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    tokio::spawn(connection);
    let client = Arc::new(client);
    let identity = Identity::new(crate::mcp::transport::LOCAL_SUBJECT);
    let timeout = crate::config::Config::embedded().database.statement_timeout;
    let sql: Arc<str> =
        rpc_sql("atoms_entity_get", &json!({"entity_id": entity_id}), &identity, timeout).into();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let (client, sql) = (client.clone(), sql.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (client, sql) = (client.clone(), sql.clone());
                    async move {
                        let _ = request.into_body().collect().await;
                        let text = last_value(&client, &sql).await.ok().flatten();
                        let (status, body) = match text {
                            Some(text) => (200, text),
                            None => (503, "the query failed".to_owned()),
                        };
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

//! The smoke checks, in the playbook's order, and the bounded client they share.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::{Check, MAX_REQUESTS, Status};
use crate::secret::Secret;

/// Vercel's header for Protection Bypass for Automation.
const PROTECTION_BYPASS: &str = "x-vercel-protection-bypass";

/// True when `url` has the origin (scheme, host, port) of the deployment `base`.
fn same_origin(url: &reqwest::Url, base: &str) -> bool {
    reqwest::Url::parse(base).is_ok_and(|base| base.origin() == url.origin())
}

/// Largest body read from any answer (health reports and `tools/list` are far smaller).
const MAX_BODY: usize = 1 << 20;
const PROTOCOL: &str = "2026-07-28";

pub(super) struct Probe {
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) mcp_path: String,
    pub(super) token: Option<Secret>,
    pub(super) protection_bypass: Option<Secret>,
    pub(super) request_timeout: Duration,
    pub(super) deadline: Instant,
    pub(super) requests: usize,
}

/// An answer: status, headers and (at most [`MAX_BODY`] bytes of) body.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

impl Probe {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one request within the run's request and time budgets.
    async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<Reply, String> {
        if self.requests >= MAX_REQUESTS {
            return Err(format!("not run: the smoke run's budget of {MAX_REQUESTS} requests is spent"));
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err("not run: the smoke run's time budget is spent".to_owned());
        }
        self.requests += 1;
        let timeout = self.request_timeout.min(remaining);
        let mut request = request.timeout(timeout).build().map_err(|e| describe(&e, timeout))?;
        if let Some(secret) = &self.protection_bypass
            && same_origin(request.url(), &self.base)
        {
            // Vercel Deployment Protection lets this header through on every request; a client
            // without a cookie jar needs no `x-vercel-set-bypass-cookie`. Redirects are never
            // followed, so the header cannot travel on to another host.
            let mut value = reqwest::header::HeaderValue::from_str(secret.expose())
                .map_err(|_| "VERCEL_AUTOMATION_BYPASS_SECRET is not a valid header value".to_owned())?;
            value.set_sensitive(true);
            request.headers_mut().insert(PROTECTION_BYPASS, value);
        }
        let mut response = self.client.execute(request).await.map_err(|e| describe(&e, timeout))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e, timeout))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(format!("the answer's body is larger than {MAX_BODY} bytes"));
            }
        }
        Ok(Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
    }

    async fn get(&mut self, path: &str) -> Result<Reply, String> {
        let request = self.client.get(self.url(path));
        self.send(request).await
    }

    /// A stateless 2026-07-28 MCP request, with the token when `authenticated`.
    async fn mcp(
        &mut self,
        method: &str,
        name: Option<&str>,
        params: Value,
        authenticated: bool,
    ) -> Result<Reply, String> {
        let token = if authenticated { self.token.as_ref() } else { None };
        let request = mcp_request(&self.client, &self.url(&self.mcp_path), method, name, params, token);
        self.send(request).await
    }
}

/// A stateless 2026-07-28 MCP request (`_meta` versions, `Mcp-Method`/`Mcp-Name` headers), as
/// `atoms smoke` and `atoms bench remote` send it.
pub(crate) fn mcp_request(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    name: Option<&str>,
    mut params: Value,
    token: Option<&Secret>,
) -> reqwest::RequestBuilder {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL)
        .header("mcp-method", method)
        .body(body.to_string());
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    request
}

fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!("no answer within {timeout:?}")
    } else if error.is_connect() {
        "cannot connect (refused, unreachable or TLS failed)".to_owned()
    } else {
        // reqwest's Display names the URL, which holds no credential here (tokens go in headers).
        format!("request failed: {error}")
    }
}

fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check { name, status: Status::Pass, detail: detail.into() }
}

fn fail(name: &'static str, detail: impl Into<String>) -> Check {
    Check { name, status: Status::Fail, detail: detail.into() }
}

fn skip(name: &'static str, detail: impl Into<String>) -> Check {
    Check { name, status: Status::Skip, detail: detail.into() }
}

/// Every check, in order.
pub(super) async fn run_all(probe: &mut Probe) -> Vec<Check> {
    let mut checks = Vec::new();
    let health = probe.get("/health").await;
    checks.push(health_check(&health, probe.protection_bypass.is_some()));
    checks.push(security_headers(&health));
    checks.push(probe_check(probe, "health_live", "/health/live", "alive").await);
    checks.push(probe_check(probe, "health_ready", "/health/ready", "ready").await);
    checks.push(cors_preflight(probe).await);
    let challenge = probe.mcp("tools/list", None, json!({}), false).await;
    checks.push(unauthenticated(&challenge));
    checks.push(protected_resource_metadata(probe, &challenge).await);
    let tools_list =
        if probe.token.is_some() { Some(probe.mcp("tools/list", None, json!({}), true).await) } else { None };
    checks.push(match &tools_list {
        Some(reply) => tools_list_check(reply),
        None => skip(
            "tools_list",
            "skipped: pass --token (or set ATOMS_SMOKE_TOKEN) to list tools as a signed-in user",
        ),
    });
    checks.push(if probe.token.is_some() {
        tool_call(probe).await
    } else {
        skip("tool_call", "skipped: pass --token (or set ATOMS_SMOKE_TOKEN) to call a read-only tool")
    });
    checks.push(metrics_refused(probe).await);
    checks.push(rate_limit_headers(tools_list.as_ref().unwrap_or(&challenge)));
    checks
}

fn health_check(reply: &Result<Reply, String>, bypass_sent: bool) -> Check {
    const NAME: &str = "health";
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => return fail(NAME, format!("GET /health: {e}")),
    };
    let Some(report) = reply.json() else {
        // A protected Vercel deployment answers every path 401 before any function runs.
        let hint = match (reply.status, bypass_sent) {
            (401 | 403, false) => {
                " (Vercel Deployment Protection? set VERCEL_AUTOMATION_BYPASS_SECRET to the project's Protection Bypass for Automation secret)"
            }
            (401 | 403, true) => " (the protection bypass secret was sent: is it the project's current one?)",
            _ => "",
        };
        return fail(
            NAME,
            format!("GET /health answered {} without a JSON health report{hint}", reply.status),
        );
    };
    let status = report["status"].as_str().unwrap_or("(no status)");
    let failing: Vec<String> = report["checks"]
        .as_object()
        .map(|checks| {
            checks
                .iter()
                .filter(|(_, c)| !matches!(c["status"].as_str(), Some("ok" | "not_configured")))
                .map(|(name, c)| format!("{name} {}", c["status"].as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    let failing = if failing.is_empty() { String::new() } else { format!(" ({})", failing.join(", ")) };
    match (reply.status, status) {
        (200, "healthy" | "degraded") => pass(NAME, format!("200 {status}{failing}")),
        (code, _) => fail(NAME, format!("GET /health answered {code} {status}{failing}")),
    }
}

/// The headers the HTTP boundary puts on every response (checked on `/health`'s answer).
fn security_headers(reply: &Result<Reply, String>) -> Check {
    const NAME: &str = "security_headers";
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => return fail(NAME, format!("no answer from /health to read: {e}")),
    };
    let expected: [(&str, Option<&str>); 5] = [
        ("strict-transport-security", None),
        ("x-content-type-options", Some("nosniff")),
        ("x-frame-options", Some("DENY")),
        ("referrer-policy", Some("no-referrer")),
        ("content-security-policy", None),
    ];
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|(name, value)| match (reply.header(name), value) {
            (None, _) => Some(format!("{name} missing")),
            (Some(got), Some(want)) if !got.eq_ignore_ascii_case(want) => Some(format!("{name}: {got}")),
            _ => None,
        })
        .collect();
    if wrong.is_empty() {
        pass(NAME, "HSTS, nosniff, X-Frame-Options DENY, no-referrer, CSP")
    } else {
        fail(NAME, wrong.join("; "))
    }
}

async fn probe_check(probe: &mut Probe, name: &'static str, path: &str, want: &str) -> Check {
    match probe.get(path).await {
        Err(e) => fail(name, format!("GET {path}: {e}")),
        Ok(reply) => {
            let status = reply.json().and_then(|r| r["status"].as_str().map(str::to_owned));
            match (reply.status, status.as_deref()) {
                (200, Some(got)) if got == want => pass(name, format!("200 {got}")),
                (code, got) => {
                    fail(name, format!("GET {path} answered {code} {}", got.unwrap_or("(no status)")))
                }
            }
        }
    }
}

/// A browser client's preflight on the MCP route, from the deployment's own origin.
async fn cors_preflight(probe: &mut Probe) -> Check {
    const NAME: &str = "cors_preflight";
    let origin =
        reqwest::Url::parse(&probe.base).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let request = probe
        .client
        .request(reqwest::Method::OPTIONS, probe.url(&probe.mcp_path))
        .header("origin", &origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, mcp-protocol-version");
    let reply = match probe.send(request).await {
        Ok(reply) => reply,
        Err(e) => return fail(NAME, format!("OPTIONS {}: {e}", probe.mcp_path)),
    };
    let allow_origin = reply.header("access-control-allow-origin");
    let methods = reply.header("access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
    let headers = reply.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    let mut wrong = Vec::new();
    if !(200..300).contains(&reply.status) {
        wrong.push(format!("status {}", reply.status));
    }
    if !allow_origin.is_some_and(|o| o == "*" || o == origin) {
        wrong.push(format!("access-control-allow-origin {allow_origin:?}"));
    }
    if !methods.contains("POST") {
        wrong.push("POST not among the allowed methods".to_owned());
    }
    for header in ["authorization", "mcp-protocol-version"] {
        if !(headers.contains(header) || headers.contains('*')) {
            wrong.push(format!("{header} not among the allowed headers"));
        }
    }
    if wrong.is_empty() {
        pass(NAME, format!("{} admits POST with authorization and mcp-protocol-version", reply.status))
    } else {
        fail(NAME, wrong.join("; "))
    }
}

/// Without a token, the MCP route must refuse with 401, a Bearer challenge and a JSON-RPC body.
fn unauthenticated(reply: &Result<Reply, String>) -> Check {
    const NAME: &str = "unauthenticated_401";
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => return fail(NAME, format!("tools/list without a token: {e}")),
    };
    if reply.status != 401 {
        return fail(
            NAME,
            format!(
                "tools/list without a token answered {}, not 401: the deployment serves callers without \
                 a token (only `atoms serve`'s local mode may)",
                reply.status
            ),
        );
    }
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    if !challenge.to_ascii_lowercase().starts_with("bearer") {
        return fail(NAME, format!("401 without a Bearer WWW-Authenticate challenge (got {challenge:?})"));
    }
    match reply.json() {
        Some(message) if message["jsonrpc"] == "2.0" && message["error"]["code"].is_i64() => {
            pass(NAME, format!("401, WWW-Authenticate: {challenge}"))
        }
        _ => fail(NAME, "401 without a JSON-RPC error body"),
    }
}

/// `resource_metadata="…"` from a `WWW-Authenticate: Bearer …` challenge (RFC 9728 §5.1).
pub(crate) fn resource_metadata_url(challenge: &str) -> Option<String> {
    let at = challenge.to_ascii_lowercase().find("resource_metadata=")?;
    let rest = &challenge[at + "resource_metadata=".len()..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split([',', ' ']).next()?,
    };
    (!value.is_empty()).then(|| value.to_owned())
}

/// Follows the challenge's `resource_metadata` URL (whatever its path) and checks the document.
async fn protected_resource_metadata(probe: &mut Probe, challenge: &Result<Reply, String>) -> Check {
    const NAME: &str = "protected_resource_metadata";
    let header = match challenge {
        Ok(reply) if reply.status == 401 => reply.header("www-authenticate").unwrap_or_default().to_owned(),
        Ok(reply) => {
            return fail(
                NAME,
                format!("no 401 challenge to follow (tools/list without a token answered {})", reply.status),
            );
        }
        Err(e) => return fail(NAME, format!("no challenge to follow: {e}")),
    };
    let Some(url) = resource_metadata_url(&header) else {
        return fail(
            NAME,
            format!(
                "WWW-Authenticate has no resource_metadata=\"…\" parameter (got {header:?}): clients cannot discover the authorization server"
            ),
        );
    };
    let url = match reqwest::Url::parse(&url)
        .or_else(|_| reqwest::Url::parse(&probe.base).and_then(|b| b.join(&url)))
    {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return fail(NAME, format!("resource_metadata is not a URL: {url:?}")),
    };
    let request = probe.client.get(url.clone()).header("accept", "application/json");
    let reply = match probe.send(request).await {
        Ok(reply) => reply,
        Err(e) => return fail(NAME, format!("GET {url}: {e}")),
    };
    let Some(document) = reply.json().filter(|_| reply.status == 200) else {
        return fail(NAME, format!("GET {url} answered {} without a JSON document", reply.status));
    };
    let resource = document["resource"].as_str();
    let servers = document["authorization_servers"].as_array().filter(|a| !a.is_empty());
    match (resource, servers) {
        (Some(resource), Some(servers)) => pass(
            NAME,
            format!("{} → resource {resource}, {} authorization server(s)", url.path(), servers.len()),
        ),
        _ => {
            fail(NAME, format!("{url}: the document lacks `resource` or a non-empty `authorization_servers`"))
        }
    }
}

fn tools_list_check(reply: &Result<Reply, String>) -> Check {
    const NAME: &str = "tools_list";
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => return fail(NAME, format!("tools/list with the token: {e}")),
    };
    let message = reply.json().unwrap_or(Value::Null);
    match message["result"]["tools"].as_array() {
        Some(tools) if reply.status == 200 && !tools.is_empty() => {
            let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
            pass(NAME, format!("{} tools: {}", names.len(), names.join(", ")))
        }
        _ => {
            fail(NAME, format!("tools/list with the token answered {}: {}", reply.status, error_of(&message)))
        }
    }
}

/// One read-only tool call: `workspace_tool` `list_workspaces` (any signed-in user may).
async fn tool_call(probe: &mut Probe) -> Check {
    const NAME: &str = "tool_call";
    let params = json!({"name": "workspace_tool", "arguments": {"operation": "list_workspaces", "limit": 1}});
    let reply = match probe.mcp("tools/call", Some("workspace_tool"), params, true).await {
        Ok(reply) => reply,
        Err(e) => return fail(NAME, format!("tools/call workspace_tool: {e}")),
    };
    let message = reply.json().unwrap_or(Value::Null);
    let result = &message["result"];
    if reply.status != 200 || !result.is_object() {
        return fail(NAME, format!("tools/call answered {}: {}", reply.status, error_of(&message)));
    }
    if result["isError"] == true {
        let error = &result["structuredContent"]["error"];
        return fail(
            NAME,
            format!("workspace_tool list_workspaces failed: {} {}", error["code"], error["message"]),
        );
    }
    pass(NAME, "workspace_tool list_workspaces answered")
}

fn error_of(message: &Value) -> String {
    match message["error"]["message"].as_str() {
        Some(text) => format!("{} {text}", message["error"]["code"]),
        None => "no JSON-RPC result".to_owned(),
    }
}

/// `/metrics` must not be readable without its token.
async fn metrics_refused(probe: &mut Probe) -> Check {
    const NAME: &str = "metrics_refused";
    match probe.get("/metrics").await {
        Err(e) => fail(NAME, format!("GET /metrics: {e}")),
        Ok(reply) => match reply.status {
            401 | 403 => pass(NAME, format!("GET /metrics without its token answered {}", reply.status)),
            404 => fail(NAME, "GET /metrics answered 404: this deployment serves no /metrics route"),
            code if (200..300).contains(&code) => {
                fail(NAME, format!("GET /metrics answered {code} without a token: metrics are public"))
            }
            code => fail(NAME, format!("GET /metrics answered {code}, expected 401 or 403")),
        },
    }
}

/// Rate-limit headers (IETF `RateLimit-Policy` / `RateLimit`) on an MCP answer.
fn rate_limit_headers(reply: &Result<Reply, String>) -> Check {
    const NAME: &str = "rate_limit_headers";
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => return fail(NAME, format!("no MCP answer to read: {e}")),
    };
    match (reply.header("ratelimit-policy"), reply.header("ratelimit")) {
        (Some(policy), Some(limit)) => pass(NAME, format!("RateLimit-Policy: {policy}; RateLimit: {limit}")),
        (policy, limit) => fail(
            NAME,
            format!(
                "the MCP answer ({}) lacks {}: rate limiting is not deployed or is disabled",
                reply.status,
                [(policy.is_none(), "RateLimit-Policy"), (limit.is_none(), "RateLimit")]
                    .iter()
                    .filter(|(missing, _)| *missing)
                    .map(|(_, name)| *name)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::resource_metadata_url;

    #[test]
    fn the_resource_metadata_parameter_is_read_from_a_challenge() {
        let url = "https://a.example/.well-known/oauth-protected-resource/api/mcp";
        assert_eq!(
            resource_metadata_url(&format!("Bearer resource_metadata=\"{url}\"")).as_deref(),
            Some(url)
        );
        assert_eq!(
            resource_metadata_url(&format!(
                "Bearer error=\"invalid_token\", resource_metadata=\"{url}\", scope=\"x\""
            ))
            .as_deref(),
            Some(url)
        );
        assert_eq!(
            resource_metadata_url("Bearer resource_metadata=https://a.example/prm, x=1").as_deref(),
            Some("https://a.example/prm")
        );
        assert_eq!(resource_metadata_url("Bearer"), None);
        assert_eq!(resource_metadata_url("Bearer resource_metadata=\"\""), None);
    }
}

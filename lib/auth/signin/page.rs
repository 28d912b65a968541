//! The signed-in page: who is signed in, this deployment's MCP URL, and copy-ready set-up for
//! common MCP clients (they sign in themselves through OAuth; the page only tells them where
//! the server is). Rendered in the shared document shell (`lib/http/page.rs`: strict CSP,
//! hashed inline style and copy script, no external asset). Every value is escaped.

use axum::response::Response;

use super::Ready;
use super::session::BrowserSession;
use crate::config::Config;
use crate::http::page::{Document, escape, html};

/// The page shown after a sign-in.
pub(super) fn signed_in(session: &BrowserSession, config: &Config, ready: &Ready) -> Response {
    let mcp_url = format!("{}{}", ready.origin, config.http.mcp_path);
    let user = &session.user;
    let who = match (user.display_name(), &user.email) {
        (Some(name), Some(email)) => format!("<strong>{}</strong> ({})", escape(&name), escape(email)),
        (Some(name), None) => format!("<strong>{}</strong>", escape(&name)),
        (None, Some(email)) => format!("<strong>{}</strong>", escape(email)),
        (None, None) => format!("<strong>{}</strong>", escape(&user.id)),
    };
    let org = session
        .organization_id
        .as_deref()
        .map(|org| format!(" in organization <code>{}</code>", escape(org)))
        .unwrap_or_default();
    let idle_hours = ready.lifetimes.idle.as_secs() / 3600;
    let absolute_hours = ready.lifetimes.absolute.as_secs() / 3600;
    let clients = [
        ("Claude Code", "In a terminal:", format!("claude mcp add --transport http atoms {mcp_url}")),
        (
            "Claude (desktop and web)",
            "Settings → Connectors → Add custom connector, with this URL:",
            mcp_url.clone(),
        ),
        (
            "Cursor",
            "In <code>~/.cursor/mcp.json</code> (or the project's <code>.cursor/mcp.json</code>):",
            format!("{{\n  \"mcpServers\": {{\n    \"atoms\": {{ \"url\": \"{mcp_url}\" }}\n  }}\n}}"),
        ),
        (
            "VS Code",
            "In <code>.vscode/mcp.json</code> (or run <em>MCP: Add Server…</em>):",
            format!(
                "{{\n  \"servers\": {{\n    \"atoms\": {{ \"type\": \"http\", \"url\": \"{mcp_url}\" }}\n  }}\n}}"
            ),
        ),
        (
            "MCP Inspector",
            "Run it, choose the <em>Streamable HTTP</em> transport and this URL, then <em>Connect</em>:",
            format!("npx @modelcontextprotocol/inspector\n# URL: {mcp_url}"),
        ),
    ];
    let mut setup = String::new();
    for (index, (name, how, snippet)) in clients.iter().enumerate() {
        setup.push_str(&format!(
            "<details{}><summary>{name}</summary><p>{how}</p>{}</details>",
            if index == 0 { " open" } else { "" },
            copy_box(&format!("setup-{index}"), snippet),
        ));
    }
    let body = format!(
        "<h1>You are signed in</h1>\
         <p>Signed in as {who}{org}.</p>\
         <h2>Your MCP server</h2>{}\
         <p class=\"muted\">Clients sign in on their own: they find this deployment's sign-in through the \
         server's OAuth metadata and open AuthKit in your browser.</p>\
         <h2>Set up a client</h2>{setup}\
         <p class=\"muted\">For a tool that cannot sign in itself, <a href=\"/auth/token\">/auth/token</a> \
         gives a current access token while this browser session lasts.</p>\
         <form method=\"post\" action=\"/auth/logout\"><button type=\"submit\">Sign out</button></form>\
         <p class=\"muted\">This browser session ends after {idle_hours} h without use, and at the latest \
         {absolute_hours} h after signing in.</p>",
        copy_box("mcp-url", &mcp_url),
    );
    html(&Document { title: "Signed in".to_owned(), body, script: true })
}

/// The page after signing out.
pub(super) fn signed_out() -> Response {
    let body = "<h1>You are signed out</h1>\
                <p>This browser's session has ended, and so has its WorkOS session: access tokens it \
                handed out are refused from now on.</p>\
                <p><a class=\"button\" href=\"/auth/login\">Sign in</a></p>"
        .to_owned();
    html(&Document { title: "Signed out".to_owned(), body, script: false })
}

/// A preformatted snippet with a copy button (hidden until the script runs).
fn copy_box(id: &str, text: &str) -> String {
    format!(
        "<div class=\"box\"><pre id=\"{id}\">{}</pre><button type=\"button\" data-copy=\"{id}\" hidden>Copy</button></div>",
        escape(text)
    )
}

//! Who a request comes from. Today: [`dev_token`], the local development tokens of
//! `atoms serve` (several local users on one machine). Token verification for deployments
//! (AuthKit, Supabase) lands here too; the MCP guard (`lib/mcp/transport.rs`) calls it, never the
//! other way round. [`signin`] is the browser sign-in flow of the `auth` function, on the
//! WorkOS API client [`workos`].

pub mod dev_token;
pub mod revocation;
pub mod signin;
pub mod workos;

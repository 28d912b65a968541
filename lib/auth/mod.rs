//! Who a request comes from.
//!
//! - [`verify`]: the resource server's token check (AuthKit MCP OAuth tokens, WorkOS session
//!   tokens, Supabase tokens) over [`jwt`] (parsing, pinned algorithms, time and audience rules)
//!   and [`jwks`] (issuer keys cached per instance);
//! - [`discovery`]: the `WWW-Authenticate` challenges and the OAuth metadata documents clients
//!   discover the sign-in from;
//! - [`revocation`]: revoked sign-in sessions (`sid`), fleet-wide in the KV;
//! - [`dev_token`]: the local development tokens of `atoms serve` (local mode only);
//! - [`signin`]: the browser sign-in flow of the `auth` function, on the WorkOS API client
//!   [`workos`].
//!
//! The MCP guard (`lib/mcp/transport.rs`) calls this module, never the other way round.

pub mod dev_token;
pub mod discovery;
pub mod jwks;
pub mod jwt;
pub mod revocation;
pub mod signin;
pub mod verify;
pub mod workos;

//! `atoms`: the operator CLI — run the local server, validate a deployment's environment.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use atoms::config::Target;
use atoms::serve::{LocalServer, ServeOptions};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "atoms",
    version,
    about = "Atoms MCP server: local server and operator tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route on one port (embedded defaults: memory KV, loopback only).
    Serve {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Interface to bind; anything but loopback requires a complete production configuration.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
    },
    /// Validate the environment for a deployment target; exit 1 when incomplete.
    CheckEnv {
        /// Target to check (default: what ATOMS_ENV / VERCEL_ENV say, else local).
        #[arg(long, value_enum)]
        target: Option<Target>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { port, host } => serve(ServeOptions { host, port }),
        Command::CheckEnv { target } => {
            let report = atoms::check_env::check(&|name| std::env::var(name).ok(), target);
            let _ = std::io::stdout().write_all(report.render().as_bytes());
            if report.is_complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn serve(options: ServeOptions) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    runtime.block_on(async {
        let config = match atoms::serve::config_from_env() {
            Ok(config) => config,
            Err(error) => return fail(&error.to_string()),
        };
        atoms::telemetry::init(&config.log);
        let server = match LocalServer::bind(config, &options).await {
            Ok(server) => server,
            Err(error) => return fail(&error.to_string()),
        };
        let _ = std::io::stdout().write_all(server.describe().as_bytes());
        let _ = std::io::stdout().flush();
        match server.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error.to_string()),
        }
    })
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "atoms: {message}");
    ExitCode::FAILURE
}

use std::collections::HashMap;

use super::*;

fn read(vars: &[(&str, &str)]) -> Result<Config, Vec<Problem>> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_lookup(&move |name| map.get(name).cloned())
}

fn variables(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.variable.as_str()).collect()
}

const PRODUCTION: &[(&str, &str)] = &[
    ("ATOMS_ENV", "production"),
    ("PUBLIC_URL", "https://atoms.example.com/"),
    ("AUTHKIT_DOMAIN", "https://acme.authkit.app"),
    ("SUPABASE_URL", "https://abc.supabase.co"),
    ("SUPABASE_ANON_KEY", "anon-key-value"),
    ("KV_REST_API_URL", "https://kv.upstash.io"),
    ("KV_REST_API_TOKEN", "kv-token-value"),
];

#[test]
fn empty_environment_is_a_valid_local_configuration() {
    let config = read(&[]).expect("defaults are valid");
    assert_eq!(config.target, Target::Local);
    assert!(matches!(config.kv.backend, KvBackend::Memory));
    assert_eq!(config.http.mcp_path, "/api/mcp");
    assert_eq!(config.http.max_body_bytes, 1024 * 1024);
    assert_eq!(config.sessions.ttl, Duration::from_secs(24 * 3600));
    assert_eq!(config.rate_limit.requests_per_minute, 120);
    assert!(config.log.timestamps);
}

#[test]
fn complete_production_configuration_is_accepted() {
    let config = read(PRODUCTION).expect("complete");
    assert_eq!(config.http.public_url.expect("set").as_str(), "https://atoms.example.com/");
    assert_eq!(config.auth.authkit_domain.as_deref(), Some("acme.authkit.app"));
    assert!(matches!(config.kv.backend, KvBackend::Upstash { .. }));
}

#[test]
fn python_server_aliases_are_accepted() {
    let config = read(&[
        ("ATOMS_ENV", "production"),
        ("FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_BASE_URL", "https://atoms.example.com"),
        ("FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_AUTHKIT_DOMAIN", "acme.authkit.app"),
        ("NEXT_PUBLIC_SUPABASE_URL", "https://abc.supabase.co"),
        ("NEXT_PUBLIC_SUPABASE_ANON_KEY", "anon"),
        ("UPSTASH_REDIS_REST_URL", "https://kv.upstash.io"),
        ("UPSTASH_REDIS_REST_TOKEN", "token"),
        ("ATOMS_FASTMCP_HTTP_PATH", "/mcp/"),
    ])
    .expect("aliases complete the configuration");
    assert_eq!(config.http.mcp_path, "/mcp");
    assert!(config.database.supabase.is_some());
}

#[test]
fn production_lists_every_missing_variable() {
    let problems = read(&[("VERCEL_ENV", "production")]).expect_err("incomplete");
    assert_eq!(variables(&problems), ["PUBLIC_URL", "AUTHKIT_DOMAIN", "SUPABASE_URL", "KV_REST_API_URL"]);
    assert!(problems.iter().all(|p| p.kind == ProblemKind::Missing));
}

#[test]
fn preview_accepts_the_vercel_deployment_host() {
    let mut vars: Vec<_> = PRODUCTION.iter().filter(|(k, _)| *k != "PUBLIC_URL").copied().collect();
    vars.retain(|(k, _)| *k != "ATOMS_ENV");
    vars.push(("VERCEL_ENV", "preview"));
    vars.push(("VERCEL_URL", "atoms-git-feature.vercel.app"));
    let config = read(&vars).expect("preview is complete with VERCEL_URL");
    assert_eq!(config.target, Target::Preview);
    assert_eq!(config.platform.deployment_hosts, ["atoms-git-feature.vercel.app"]);
}

#[test]
fn malformed_values_are_named_without_echoing_them() {
    let problems = read(&[
        ("RATE_LIMIT_BURST_SIZE", "lots"),
        ("CACHE_ENABLED", "maybe"),
        ("REDIS_URL", "http://secret-password@host"),
        ("LOG_FORMAT", "xml"),
        ("ATOMS_MCP_PATH", "api mcp"),
        ("MCP_SESSION_TTL_HOURS", "0"),
    ])
    .expect_err("malformed");
    assert_eq!(
        variables(&problems),
        [
            "ATOMS_MCP_PATH",
            "LOG_FORMAT",
            "REDIS_URL",
            "MCP_SESSION_TTL_HOURS",
            "RATE_LIMIT_BURST_SIZE",
            "CACHE_ENABLED"
        ]
    );
    let text: String = problems.iter().map(|p| p.to_string()).collect();
    assert!(!text.contains("secret-password"), "{text}");
    assert!(text.contains("RATE_LIMIT_BURST_SIZE is malformed: expected a whole number"), "{text}");
}

#[test]
fn half_configured_pairs_name_the_missing_half() {
    let problems = read(&[("KV_REST_API_URL", "https://kv.upstash.io"), ("SUPABASE_ANON_KEY", "k")])
        .expect_err("pairs incomplete");
    assert_eq!(variables(&problems), ["KV_REST_API_TOKEN", "SUPABASE_URL"]);
}

#[test]
fn production_refuses_plain_http_public_url() {
    let mut vars = PRODUCTION.to_vec();
    vars[1] = ("PUBLIC_URL", "http://atoms.example.com");
    let problems = read(&vars).expect_err("http in production");
    assert_eq!(variables(&problems), ["PUBLIC_URL"]);
}

#[test]
fn platform_log_stamps_turn_off_our_timestamps() {
    let config = read(&[("VERCEL", "1"), ("LOG_FORMAT", "TEXT")]).expect("valid");
    assert!(!config.log.timestamps);
    assert_eq!(config.log.format, LogFormat::Text);
}

fn target(vars: &[(&str, &str)]) -> Target {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    derive_target(&move |name| map.get(name).cloned())
}

#[test]
fn the_platform_decides_the_target_over_atoms_env() {
    assert_eq!(target(&[]), Target::Local);
    assert_eq!(target(&[("ATOMS_ENV", "preview")]), Target::Preview);
    assert_eq!(target(&[("VERCEL_ENV", "development")]), Target::Local, "vercel dev");
    assert_eq!(target(&[("ATOMS_ENV", "development"), ("VERCEL_ENV", "production")]), Target::Production);
    assert_eq!(target(&[("ATOMS_ENV", "local"), ("VERCEL_ENV", "preview")]), Target::Preview);
    assert_eq!(target(&[("ATOMS_ENV", "preview"), ("VERCEL_ENV", "production")]), Target::Production);
    assert_eq!(target(&[("ATOMS_ENV", "production"), ("VERCEL_ENV", "preview")]), Target::Production);
    assert_eq!(target(&[("AWS_LAMBDA_FUNCTION_NAME", "atoms-mcp")]), Target::Production);
    let lambda_local = [("AWS_LAMBDA_FUNCTION_NAME", "atoms-mcp"), ("ATOMS_ENV", "local")];
    assert_eq!(target(&lambda_local), Target::Production);
    let lambda_preview = [("AWS_LAMBDA_FUNCTION_NAME", "atoms-mcp"), ("ATOMS_ENV", "preview")];
    assert_eq!(target(&lambda_preview), Target::Preview);
}

#[test]
fn atoms_env_cannot_lower_the_platform_target_at_start_up() {
    let problems = read(&[("ATOMS_ENV", "development"), ("VERCEL_ENV", "production")])
        .expect_err("a production deployment must be complete");
    assert_eq!(variables(&problems), ["PUBLIC_URL", "AUTHKIT_DOMAIN", "SUPABASE_URL", "KV_REST_API_URL"]);
    let mut lambda: Vec<_> = PRODUCTION.iter().filter(|(k, _)| *k != "ATOMS_ENV").copied().collect();
    lambda.push(("ATOMS_ENV", "local"));
    lambda.push(("AWS_LAMBDA_FUNCTION_NAME", "atoms-mcp"));
    assert_eq!(read(&lambda).expect("complete").target, Target::Production);
}

#[test]
fn a_non_loopback_bind_is_never_local() {
    assert_eq!(Target::Local.for_bind(true), Target::Local);
    assert_eq!(Target::Local.for_bind(false), Target::Production);
    assert_eq!(Target::Preview.for_bind(false), Target::Preview);
}

#[test]
fn rust_log_directives_set_our_level_and_problems_name_the_variable_set() {
    let level = |vars: &[(&str, &str)]| read(vars).expect("valid").log.level;
    assert_eq!(level(&[("RUST_LOG", "atoms=debug")]), LevelFilter::DEBUG);
    assert_eq!(level(&[("RUST_LOG", "warn,atoms::mcp=trace,hyper=off")]), LevelFilter::TRACE);
    assert_eq!(level(&[("RUST_LOG", "hyper=debug,error")]), LevelFilter::ERROR);
    assert_eq!(level(&[("RUST_LOG", "hyper=debug")]), LevelFilter::INFO);
    assert_eq!(level(&[("LOG_LEVEL", "warn"), ("RUST_LOG", "atoms=debug")]), LevelFilter::WARN);
    let problems = read(&[("RUST_LOG", "atoms=loud")]).expect_err("malformed");
    assert_eq!(variables(&problems), ["RUST_LOG"], "the variable that is set");
    let problems = read(&[("ATOMS_FASTMCP_HTTP_PATH", "/api mcp")]).expect_err("malformed");
    assert_eq!(variables(&problems), ["ATOMS_FASTMCP_HTTP_PATH"]);
}

#[test]
fn the_mcp_path_cannot_be_empty_or_another_route() {
    for path in
        ["//", "/", "/health", "/health/", "/health/live", "/api/health", "/api//mcp", "/api/../x", "api/mcp"]
    {
        let problems = read(&[("ATOMS_MCP_PATH", path)]).expect_err(path);
        assert_eq!(variables(&problems), ["ATOMS_MCP_PATH"], "{path}");
    }
    for path in ["/mcp", "/api/mcp/", "/healthz", "/v1/mcp.json"] {
        read(&[("ATOMS_MCP_PATH", path)]).unwrap_or_else(|p| panic!("{path}: {p:?}"));
    }
}

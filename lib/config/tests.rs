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
    ("WORKOS_CLIENT_ID", "client_01TEST"),
    ("WORKOS_API_KEY", "sk_test_secret"),
    ("ATOMS_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
    ("SUPABASE_URL", "https://abc.supabase.co"),
    ("SUPABASE_ANON_KEY", "anon-key-value"),
    ("KV_REST_API_URL", "https://kv.upstash.io"),
    ("KV_REST_API_TOKEN", "kv-token-value"),
];

const ALL_MISSING: [&str; 7] = [
    "PUBLIC_URL",
    "AUTHKIT_DOMAIN",
    "WORKOS_CLIENT_ID",
    "WORKOS_API_KEY",
    "ATOMS_SESSION_KEY",
    "SUPABASE_URL",
    "KV_REST_API_URL",
];

#[test]
fn empty_environment_is_a_valid_local_configuration() {
    let config = read(&[]).expect("defaults are valid");
    assert_eq!(config.target, Target::Local);
    assert!(matches!(config.kv.backend, KvBackend::Memory));
    assert_eq!(config.http.mcp_path, "/api/mcp");
    assert_eq!(config.http.max_body_bytes, 1024 * 1024);
    assert_eq!(config.sessions.ttl, Duration::from_secs(2 * 3600), "idle");
    assert_eq!(config.sessions.absolute, Duration::from_secs(24 * 3600));
    assert_eq!(config.rate_limit.requests_per_minute, 60);
    assert_eq!(config.rate_limit.burst_size, 100);
    assert!(!config.rate_limit.enabled, "off on a developer's machine unless asked for");
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
        ("FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_CLIENT_ID", "client_01TEST"),
        ("WORKOS_API_KEY", "sk_test_secret"),
        ("ATOMS_SESSION_KEY", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
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
    assert_eq!(variables(&problems), ALL_MISSING);
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
    assert_eq!(variables(&problems), ALL_MISSING);
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

#[test]
fn the_auth_mode_follows_authkit_and_the_target() {
    let mode = |vars: &[(&str, &str)]| read(vars).expect("valid").auth.mode;
    assert_eq!(mode(&[]), AuthMode::Local);
    let local_url = ("PUBLIC_URL", "http://127.0.0.1:3000");
    assert_eq!(mode(&[("AUTHKIT_DOMAIN", "acme.authkit.app"), local_url]), AuthMode::AuthKit);
    let problems = read(&[("AUTHKIT_DOMAIN", "acme.authkit.app")]).expect_err("no resource URL");
    assert_eq!(variables(&problems), ["PUBLIC_URL"], "tokens are issued for a resource URL");
    let supabase = [
        ("ATOMS_AUTH_MODE", "supabase"),
        ("SUPABASE_URL", "https://abc.supabase.co"),
        ("SUPABASE_ANON_KEY", "anon"),
        local_url,
    ];
    assert_eq!(mode(&supabase), AuthMode::Supabase);
    assert_eq!(mode(PRODUCTION), AuthMode::AuthKit);
    let mut local_in_production = PRODUCTION.to_vec();
    local_in_production.push(("ATOMS_AUTH_MODE", "local"));
    assert_eq!(variables(&read(&local_in_production).expect_err("refused")), ["ATOMS_AUTH_MODE"]);
    let mut local_in_preview: Vec<_> =
        PRODUCTION.iter().filter(|(k, _)| *k != "ATOMS_ENV").copied().collect();
    local_in_preview.extend([("VERCEL_ENV", "preview"), ("ATOMS_AUTH_MODE", "LOCAL")]);
    assert_eq!(variables(&read(&local_in_preview).expect_err("refused")), ["ATOMS_AUTH_MODE"]);
    assert_eq!(variables(&read(&[("ATOMS_AUTH_MODE", "oauth")]).expect_err("unknown")), ["ATOMS_AUTH_MODE"]);
}

#[test]
fn authkit_over_plain_http_only_on_loopback() {
    let url = |domain: &str| {
        read(&[("AUTHKIT_DOMAIN", domain), ("ATOMS_AUTH_MODE", "local")])
            .map(|c| c.auth.authkit_url.map(|u| u.to_string()))
    };
    assert_eq!(url("acme.authkit.app").expect("valid").as_deref(), Some("https://acme.authkit.app/"));
    assert_eq!(url("http://127.0.0.1:4010").expect("loopback").as_deref(), Some("http://127.0.0.1:4010/"));
    assert_eq!(url("http://localhost:4010/").expect("loopback").as_deref(), Some("http://localhost:4010/"));
    for bad in [
        "http://acme.authkit.app",
        "https://acme.authkit.app/path",
        "acme",
        "ftp://acme.authkit.app",
        "https://u@acme.authkit.app",
    ] {
        assert_eq!(variables(&url(bad).expect_err(bad)), ["AUTHKIT_DOMAIN"], "{bad}");
    }
    let api = |v: &str| read(&[("WORKOS_API_URL", v)]).map(|c| c.auth.workos.api_url.to_string());
    assert_eq!(api("http://127.0.0.1:9").expect("loopback"), "http://127.0.0.1:9/");
    assert_eq!(variables(&api("http://api.workos.com").expect_err("plain http")), ["WORKOS_API_URL"]);
}

#[test]
fn workos_issuers_and_key_sets_derive_from_the_client_id() {
    let config = read(PRODUCTION).expect("complete");
    assert_eq!(config.auth.authkit_issuer().as_deref(), Some("https://acme.authkit.app"));
    assert_eq!(config.auth.authkit_jwks_url().as_deref(), Some("https://acme.authkit.app/oauth2/jwks"));
    let workos = &config.auth.workos;
    assert_eq!(
        workos.session_issuer().as_deref(),
        Some("https://api.workos.com/user_management/client_01TEST")
    );
    assert_eq!(workos.jwks_url().as_deref(), Some("https://api.workos.com/sso/jwks/client_01TEST"));
    let mut custom = PRODUCTION.to_vec();
    custom.push(("WORKOS_ISSUER", "https://auth.example.com/"));
    let config = read(&custom).expect("complete");
    assert_eq!(config.auth.workos.session_issuer().as_deref(), Some("https://auth.example.com"));
}

#[test]
fn scopes_audiences_and_the_session_key_are_parsed() {
    let config = read(&[
        ("FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_REQUIRED_SCOPES", "openid, profile email"),
        ("ATOMS_AUTH_MODE", "local"),
        ("AUTHKIT_ALLOWED_AUDIENCES", "client_a,client_b"),
    ])
    .expect("valid");
    assert_eq!(config.auth.required_scopes, ["openid", "profile", "email"]);
    assert_eq!(config.auth.allowed_audiences, ["client_a", "client_b"]);
    assert!(decode_session_key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").is_some());
    assert!(decode_session_key(&"ab".repeat(32)).is_some());
    let problems = read(&[("ATOMS_SESSION_KEY", "too-short")]).expect_err("malformed");
    assert_eq!(variables(&problems), ["ATOMS_SESSION_KEY"]);
    assert!(!format!("{problems:?}").contains("too-short"), "the value is never repeated");
}

#[test]
fn rate_limit_classes_and_session_lifetimes() {
    let config = read(&[
        ("RATE_LIMIT_WRITE_PER_MINUTE", "30"),
        ("RATE_LIMIT_EXPORT_PER_MINUTE", "6"),
        ("RATE_LIMIT_EXPORT_BURST", "2"),
        ("MCP_SESSION_IDLE_MINUTES", "600"),
        ("MCP_SESSION_TTL_HOURS", "48"),
    ])
    .expect("valid");
    let limits = &config.rate_limit;
    assert_eq!(limits.write, Some(Rate { per_minute: 30, burst: 10 }));
    assert_eq!(limits.export, Some(Rate { per_minute: 6, burst: 2 }));
    assert_eq!(limits.search, None);
    assert_eq!(limits.auth, Rate { per_minute: 20, burst: 10 });
    assert_eq!(config.sessions.ttl, Duration::from_secs(600 * 60));
    assert_eq!(config.sessions.absolute, Duration::from_secs(48 * 3600));
    let capped =
        read(&[("MCP_SESSION_IDLE_MINUTES", "3000"), ("MCP_SESSION_TTL_HOURS", "1")]).expect("valid");
    assert_eq!(capped.sessions.ttl, Duration::from_secs(3600), "idle never outlives the absolute lifetime");
    let problems = read(&[("RATE_LIMIT_SEARCH_BURST", "5")]).expect_err("a burst without a rate");
    assert_eq!(variables(&problems), ["RATE_LIMIT_SEARCH_PER_MINUTE"]);
    assert!(read(PRODUCTION).expect("complete").rate_limit.enabled, "on by default when deployed");
}

#[test]
fn supabase_keys_never_come_over_plain_http() {
    let vars = |url: &'static str| {
        vec![
            ("ATOMS_AUTH_MODE", "supabase"),
            ("SUPABASE_URL", url),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PUBLIC_URL", "http://127.0.0.1:3000"),
        ]
    };
    let problems = read(&vars("http://supabase.internal.example.com")).expect_err("plain http");
    assert_eq!(variables(&problems), ["SUPABASE_URL"]);
    read(&vars("http://127.0.0.1:54321")).expect("a loopback Supabase (supabase start)");
    read(&vars("https://abc.supabase.co")).expect("https");
}

#[test]
fn trace_export_is_off_unless_an_endpoint_is_set() {
    assert!(read(&[]).expect("defaults").observability.traces.is_none());
    let config = read(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io/"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=abc%3D%3D, x-honeycomb-dataset = atoms"),
        ("OTEL_SERVICE_NAME", "atoms-eu"),
    ])
    .expect("valid");
    let traces = config.observability.traces.expect("on");
    assert_eq!(traces.url.as_str(), "https://api.honeycomb.io/v1/traces");
    let headers: Vec<(&str, &str)> = traces.headers.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
    assert_eq!(headers, [("x-honeycomb-team", "abc=="), ("x-honeycomb-dataset", "atoms")]);
    assert_eq!(traces.service_name, "atoms-eu");
    assert_eq!(traces.timeout, std::time::Duration::from_millis(2000));
    assert!(!format!("{traces:?}").contains("abc=="), "header values are secrets");
    let grafana =
        read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp-gateway.grafana.net/otlp")]).expect("valid");
    assert_eq!(
        grafana.observability.traces.expect("on").url.as_str(),
        "https://otlp-gateway.grafana.net/otlp/v1/traces"
    );
    let exact =
        read(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/custom")]).expect("valid");
    assert_eq!(exact.observability.traces.expect("on").url.as_str(), "http://collector:4318/custom");
}

#[test]
fn bad_trace_export_settings_are_named() {
    for (vars, variable) in [
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://collector:4317")][..], "OTEL_EXPORTER_OTLP_ENDPOINT"),
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")][..], "OTEL_EXPORTER_OTLP_ENDPOINT"),
        (
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign"),
            ][..],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_HEADERS", "bad name=x")]
                [..],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")][..],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "0")][..],
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ),
        (&[("CRON_SECRET", "short")][..], "CRON_SECRET"),
    ] {
        let problems = read(vars).expect_err("refused");
        assert_eq!(variables(&problems), [variable], "{vars:?}");
        let message = problems[0].to_string();
        assert!(!message.contains("x-secret"), "{message}");
    }
    let problems = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://c")]).expect_err("refused");
    assert!(problems[0].to_string().contains("http(s) URL"), "{}", problems[0]);
}

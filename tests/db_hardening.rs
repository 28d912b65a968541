//! The domain rules the review found broken, each as the scenario that broke it: membership that
//! reveals nothing and always keeps an owner (also under two concurrent sessions), writes that
//! lose a race against a delete, exports that a late commit cannot slip past, runs of deleted
//! workflows, and forged cursors.

mod support;

use atoms::config::Config;
use atoms::db::{Db, DbError, Identity};
use serde_json::{Value, json};
use support::sql::{Session, wait_until_a_session_waits_for_a_lock};

struct Env {
    db: Db,
    url: String,
}

async fn env() -> Env {
    let url = support::postgres::fresh_database().await;
    let db = Db::direct(&url, &Config::embedded().database).expect("adapter");
    Env { db, url: url.expose().to_owned() }
}

fn user(sub: &str) -> Identity {
    let mut identity = Identity::new(sub);
    identity.email = Some(format!("{sub}@example.com"));
    identity
}

impl Env {
    async fn ok(&self, who: &str, function: &str, args: Value) -> Value {
        self.db
            .rpc(function, &args, &user(who))
            .await
            .unwrap_or_else(|e| panic!("{function}({args}) as {who}: {e:?}"))
    }

    async fn err(&self, who: &str, function: &str, args: Value) -> DbError {
        match self.db.rpc(function, &args, &user(who)).await {
            Ok(value) => panic!("{function}({args}) as {who} should fail, returned {value}"),
            Err(error) => error,
        }
    }

    async fn admin(&self, sql: &str) -> String {
        Session::connect(&self.url).await.text(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn workspace(&self, owner: &str) -> String {
        self.ok(owner, "atoms_workspace_create", json!({"name": "W"})).await["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    async fn owners(&self, ws: &str) -> String {
        self.admin(&format!(
            "select count(*) from atoms_workspace_members where workspace_id = '{ws}' and role = 'owner'"
        ))
        .await
    }
}

fn code(error: &DbError) -> &'static str {
    error.code()
}

#[tokio::test]
async fn adding_members_reveals_nothing_the_caller_did_not_supply() {
    let env = env().await;
    let ws = env.workspace("alice").await;
    env.ok("bob", "atoms_user_me", json!({})).await;

    // By subject: works whether or not that subject ever signed in, and answers the same way.
    let known = env
        .ok(
            "alice",
            "atoms_workspace_member_set",
            json!({"workspace_id": ws, "user_id": "bob", "role": "viewer"}),
        )
        .await;
    let unknown = env
        .ok(
            "alice",
            "atoms_workspace_member_set",
            json!({"workspace_id": ws, "user_id": "newcomer", "role": "viewer"}),
        )
        .await;
    for (answer, sub) in [(&known, "bob"), (&unknown, "newcomer")] {
        let keys: Vec<&str> = answer.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["role", "user_id", "workspace_id"], "{answer}");
        assert_eq!(answer["user_id"], sub);
        assert!(!answer.to_string().contains("@example.com"), "no email in {answer}");
    }
    // The newcomer signs in later and finds the workspace; their profile fills in then.
    let listed = env.ok("newcomer", "atoms_workspace_list", json!({})).await;
    assert_eq!(listed["items"][0]["id"], json!(ws));

    // By email: only someone who signed in with it; the answer echoes the email, nothing more.
    env.ok("carol", "atoms_user_me", json!({})).await;
    let by_email = env
        .ok(
            "alice",
            "atoms_workspace_member_set",
            json!({"workspace_id": ws, "user_email": "CAROL@example.com", "role": "editor"}),
        )
        .await;
    assert_eq!(by_email["user_email"], "CAROL@example.com");
    assert!(by_email.get("user_id").is_none());
    let nobody = env
        .err(
            "alice",
            "atoms_workspace_member_set",
            json!({"workspace_id": ws, "user_email": "ghost@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(code(&nobody), "not_found");
    assert!(nobody.to_string().contains("sign in"), "{nobody}");
    let both = env
        .err(
            "alice",
            "atoms_workspace_member_set",
            json!({"workspace_id": ws, "user_id": "bob", "user_email": "x@y", "role": "viewer"}),
        )
        .await;
    assert_eq!(code(&both), "invalid_argument");

    // Members are listed without emails or subjects.
    let info = env.ok("bob", "atoms_workspace_info", json!({"workspace_id": ws})).await;
    let members = info["members"].to_string();
    assert!(!members.contains("@example.com") && !members.contains("\"carol\""), "{members}");
    assert_eq!(info["members"].as_array().map(Vec::len), Some(4));
    // Only members who have acted here (and the caller) are shown by id and name; the others
    // (the newcomer, carol) are `hidden`, whether or not they ever signed in.
    let hidden = info["members"].as_array().expect("members").iter().filter(|m| m["hidden"] == true).count();
    assert_eq!(hidden, 2, "{members}");
    assert!(
        info["members"]
            .as_array()
            .expect("members")
            .iter()
            .all(|m| m["hidden"] == true || m["member_id"].is_string())
    );
    // Removing by email names only this workspace's members.
    let stranger = env
        .err(
            "alice",
            "atoms_workspace_member_remove",
            json!({"workspace_id": ws, "user_email": "ghost@example.com"}),
        )
        .await;
    assert_eq!(code(&stranger), "not_found");
}

#[tokio::test]
async fn anyone_may_leave_but_the_last_owner_stays() {
    let env = env().await;
    let ws = env.workspace("alice").await;
    env.ok(
        "alice",
        "atoms_workspace_member_set",
        json!({"workspace_id": ws, "user_id": "bob", "role": "viewer"}),
    )
    .await;
    // A viewer leaves on their own.
    env.ok("bob", "atoms_workspace_member_remove", json!({"workspace_id": ws, "user_id": "bob"})).await;
    assert_eq!(code(&env.err("bob", "atoms_workspace_get", json!({"workspace_id": ws})).await), "not_found");
    // A viewer cannot remove others.
    env.ok(
        "alice",
        "atoms_workspace_member_set",
        json!({"workspace_id": ws, "user_id": "carol", "role": "viewer"}),
    )
    .await;
    env.ok(
        "alice",
        "atoms_workspace_member_set",
        json!({"workspace_id": ws, "user_id": "dan", "role": "viewer"}),
    )
    .await;
    let refused = env
        .err("carol", "atoms_workspace_member_remove", json!({"workspace_id": ws, "user_id": "dan"}))
        .await;
    assert_eq!(code(&refused), "permission_denied");
    // The only owner can neither demote nor remove themselves.
    for (function, args) in [
        ("atoms_workspace_member_set", json!({"workspace_id": ws, "user_id": "alice", "role": "editor"})),
        ("atoms_workspace_member_remove", json!({"workspace_id": ws, "user_id": "alice"})),
    ] {
        let error = env.err("alice", function, args).await;
        assert_eq!(code(&error), "failed_precondition", "{function}");
        assert!(error.to_string().contains("without an owner"), "{error}");
    }
    // With a second owner, the first may step down.
    env.ok(
        "alice",
        "atoms_workspace_member_set",
        json!({"workspace_id": ws, "user_id": "carol", "role": "owner"}),
    )
    .await;
    env.ok(
        "alice",
        "atoms_workspace_member_set",
        json!({"workspace_id": ws, "user_id": "alice", "role": "viewer"}),
    )
    .await;
    assert_eq!(env.owners(&ws).await, "1");
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let env = env().await;
    let ws = env.workspace("alice").await;
    env.ok(
        "alice",
        "atoms_workspace_member_set",
        json!({"workspace_id": ws, "user_id": "bob", "role": "owner"}),
    )
    .await;

    let first = Session::connect(&env.url).await;
    first.begin("authenticated", "alice").await;
    first
        .call("atoms_workspace_member_set", &json!({"workspace_id": ws, "user_id": "bob", "role": "editor"}))
        .await
        .expect("alice demotes bob");
    let second = tokio::spawn({
        let url = env.url.clone();
        let ws = ws.clone();
        async move {
            let session = Session::connect(&url).await;
            session.begin("authenticated", "bob").await;
            let result = session
                .call(
                    "atoms_workspace_member_set",
                    &json!({"workspace_id": ws, "user_id": "alice", "role": "editor"}),
                )
                .await;
            session.rollback().await;
            result
        }
    });
    wait_until_a_session_waits_for_a_lock(&env.url).await;
    first.commit().await;
    let bobs_attempt = second.await.expect("second session");
    assert_eq!(
        bobs_attempt,
        Err("PT403".to_owned()),
        "bob is no longer an owner once alice's change commits"
    );
    assert_eq!(env.owners(&ws).await, "1");
}

#[tokio::test]
async fn updates_that_lose_a_race_against_a_delete_answer_not_found() {
    let env = env().await;
    let ws = env.workspace("alice").await;
    let a = env
        .ok("alice", "atoms_entity_create", json!({"workspace_id": ws, "type": "doc", "name": "A"}))
        .await["id"]
        .clone();
    let b = env
        .ok("alice", "atoms_entity_create", json!({"workspace_id": ws, "type": "doc", "name": "B"}))
        .await["id"]
        .clone();
    let edge = env
        .ok("alice", "atoms_relationship_create", json!({"source_id": a, "target_id": b, "type": "cites"}))
        .await["id"]
        .clone();

    for (delete, update) in [
        (
            ("atoms_relationship_delete", json!({"relationship_id": edge})),
            ("atoms_relationship_update", json!({"relationship_id": edge, "metadata": {"x": 1}})),
        ),
        (
            ("atoms_entity_delete", json!({"entity_id": a})),
            ("atoms_entity_update", json!({"entity_id": a, "name": "A2"})),
        ),
    ] {
        let deleting = Session::connect(&env.url).await;
        deleting.begin("authenticated", "alice").await;
        deleting.call(delete.0, &delete.1).await.expect("delete");
        let updating = tokio::spawn({
            let url = env.url.clone();
            let (function, args) = update.clone();
            async move {
                let session = Session::connect(&url).await;
                session.begin("authenticated", "alice").await;
                let result = session.call(function, &args).await;
                session.rollback().await;
                result
            }
        });
        wait_until_a_session_waits_for_a_lock(&env.url).await;
        deleting.commit().await;
        assert_eq!(updating.await.expect("update session"), Err("PT404".to_owned()), "{}", update.0);
    }
    let orphans = env
        .admin("select count(*) from atoms_audit_log where workspace_id is null or target_id is null")
        .await;
    assert_eq!(orphans, "0", "no audit row without workspace or target");
}

#[tokio::test]
async fn an_export_never_skips_a_row_a_late_commit_would_hide() {
    let env = env().await;
    let ws = env.workspace("alice").await;
    let create = |name: &str| json!({"workspace_id": ws, "type": "doc", "name": name});
    let e0 = env.ok("alice", "atoms_entity_create", create("E0")).await["id"].clone();
    // E1 is inserted first but commits late (a long workflow, say).
    let late = Session::connect(&env.url).await;
    late.begin("authenticated", "alice").await;
    late.call("atoms_entity_create", &create("E1")).await.expect("E1");
    let e2 = env.ok("alice", "atoms_entity_create", create("E2")).await["id"].clone();

    let page1 = env.ok("alice", "atoms_export", json!({"workspace_id": ws, "limit": 1})).await;
    late.commit().await;
    env.ok("alice", "atoms_entity_create", create("E3")).await;
    let page2 = env
        .ok("alice", "atoms_export", json!({"workspace_id": ws, "limit": 1, "cursor": page1["next_cursor"]}))
        .await;
    let ids: Vec<Value> = [&page1, &page2]
        .iter()
        .flat_map(|p| p["rows"].as_array().cloned().unwrap_or_default())
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, [e0, e2], "exactly the rows committed when the export began, in order");
    assert_eq!(page2["next_cursor"], Value::Null);

    // A new export sees everything, each row once.
    let mut cursor = Value::Null;
    let mut names = Vec::new();
    loop {
        let page =
            env.ok("alice", "atoms_export", json!({"workspace_id": ws, "limit": 2, "cursor": cursor})).await;
        names.extend(
            page["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|r| r["name"].as_str().expect("name").to_owned()),
        );
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(names, ["E0", "E1", "E2", "E3"]);
    // A cursor of another export kind is refused.
    let wrong = env
        .err(
            "alice",
            "atoms_export",
            json!({"workspace_id": ws, "kind": "relationships", "cursor": page1["next_cursor"]}),
        )
        .await;
    assert_eq!(code(&wrong), "invalid_argument");
}

#[tokio::test]
async fn runs_of_deleted_workflows_are_gone_and_runs_have_real_timings() {
    let env = env().await;
    let ws = env.workspace("alice").await;
    let steps = json!([{"operation": "entity_tool.create_entity", "arguments": {"type": "doc", "name": "one"}},
                       {"operation": "entity_tool.create_entity", "arguments": {"type": "doc", "name": "two"}}]);
    let wf = env
        .ok("alice", "atoms_workflow_create", json!({"workspace_id": ws, "name": "W", "steps": steps}))
        .await;
    let run = env.ok("alice", "atoms_workflow_execute", json!({"workflow_id": wf["id"]})).await;
    let started = env
        .admin(&format!(
            "select started_at < finished_at from atoms_workflow_runs where id = '{}'",
            run["run_id"].as_str().expect("run")
        ))
        .await;
    assert_eq!(started, "true", "finished_at is when the steps ended, after started_at");
    env.ok("alice", "atoms_workflow_run_status", json!({"run_id": run["run_id"]})).await;
    env.ok("alice", "atoms_workflow_delete", json!({"workflow_id": wf["id"]})).await;
    let gone = env.err("alice", "atoms_workflow_run_status", json!({"run_id": run["run_id"]})).await;
    assert_eq!(code(&gone), "not_found");
}

#[tokio::test]
async fn forged_or_truncated_cursors_are_invalid_arguments() {
    let env = env().await;
    let ws = env.workspace("alice").await;
    for n in 0..3 {
        env.ok(
            "alice",
            "atoms_entity_create",
            json!({"workspace_id": ws, "type": "doc", "name": format!("n{n}")}),
        )
        .await;
    }
    let encode = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let page = env
        .ok(
            "alice",
            "atoms_query_entities",
            json!({"workspace_id": ws, "limit": 1, "sort": {"field": "version"}}),
        )
        .await;
    assert!(page["next_cursor"].is_string());
    let cases = [
        (
            "atoms_query_entities",
            json!({"workspace_id": ws, "sort": {"field": "version"}, "cursor": encode(json!({"f": "version", "d": "asc", "i": "00000000-0000-4000-8000-000000000000"}))}),
        ),
        (
            "atoms_query_entities",
            json!({"workspace_id": ws, "sort": {"field": "version"}, "cursor": encode(json!({"f": "version", "d": "asc", "v": "abc", "i": "00000000-0000-4000-8000-000000000000"}))}),
        ),
        (
            "atoms_entity_list",
            json!({"workspace_id": ws, "cursor": encode(json!({"t": "alice@example.com", "i": "x"}))}),
        ),
        ("atoms_entity_list", json!({"workspace_id": ws, "cursor": encode(json!([1, 2]))})),
        ("atoms_entity_list", json!({"workspace_id": ws, "cursor": "%%%"})),
        (
            "atoms_query_entities",
            json!({"workspace_id": ws, "filters": [{"field": "name", "op": "ilike", "value": "%\\"}]}),
        ),
        (
            "atoms_workspace_list",
            json!({"cursor": encode(json!({"i": "00000000-0000-4000-8000-000000000000"}))}),
        ),
        (
            "atoms_export",
            json!({"workspace_id": ws, "cursor": encode(json!({"t": "2020-01-01", "i": "00000000-0000-4000-8000-000000000000", "s": "nonsense", "k": "entities"}))}),
        ),
    ];
    for (function, args) in cases {
        let error = env.err("alice", function, args.clone()).await;
        assert_eq!(code(&error), "invalid_argument", "{function}({args}): {error}");
        assert!(!error.to_string().contains("alice@example.com"), "input echoed: {error}");
    }
}

#[tokio::test]
async fn reading_a_hub_entity_is_bounded_and_counts_the_rest() {
    let env = env().await;
    let ws = env.workspace("alice").await;
    let hub = env
        .ok("alice", "atoms_entity_create", json!({"workspace_id": ws, "type": "hub", "name": "hub"}))
        .await["id"]
        .clone();
    let items: Vec<Value> = (0..60).map(|n| json!({"type": "leaf", "name": format!("leaf {n}")})).collect();
    let leaves = env.ok("alice", "atoms_entity_create", json!({"workspace_id": ws, "items": items})).await;
    for leaf in leaves["items"].as_array().expect("items") {
        env.ok(
            "alice",
            "atoms_relationship_create",
            json!({"source_id": hub, "target_id": leaf["id"], "type": "has"}),
        )
        .await;
    }
    let read =
        env.ok("alice", "atoms_entity_get", json!({"entity_id": hub, "include_relationships": true})).await;
    let relationships = &read["relationships"];
    assert_eq!(relationships["outgoing"].as_array().map(Vec::len), Some(50));
    assert_eq!(relationships["incoming"], json!([]));
    assert_eq!(relationships["incoming_next_cursor"], Value::Null);
    // The cursor continues with atoms_relationship_list: the other 10 edges.
    let rest = env
        .ok(
            "alice",
            "atoms_relationship_list",
            json!({"entity_id": hub, "direction": "out", "cursor": relationships["outgoing_next_cursor"]}),
        )
        .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(10));
    assert_eq!(rest["next_cursor"], Value::Null);

    // Paging the edges in both directions visits each once.
    let mut cursor = Value::Null;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let page = env
            .ok("alice", "atoms_relationship_list", json!({"entity_id": hub, "limit": 25, "cursor": cursor}))
            .await;
        for item in page["items"].as_array().expect("items") {
            assert!(seen.insert(item["id"].as_str().expect("id").to_owned()), "edge listed twice");
        }
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(seen.len(), 60);
    // The graph stops at max_nodes and says so.
    let graph = env.ok("alice", "atoms_relationship_graph", json!({"entity_id": hub, "max_nodes": 10})).await;
    assert_eq!(graph["nodes"].as_array().map(Vec::len), Some(10));
    assert_eq!(graph["truncated"], true);
    let whole = env.ok("alice", "atoms_relationship_graph", json!({"entity_id": hub, "max_nodes": 61})).await;
    assert_eq!(whole["nodes"].as_array().map(Vec::len), Some(61));
    assert_eq!(whole["truncated"], false);
    // Workflows page too.
    for n in 0..3 {
        let steps = json!([{"operation": "entity_tool.list_entities", "arguments": {}}]);
        env.ok(
            "alice",
            "atoms_workflow_create",
            json!({"workspace_id": ws, "name": format!("w{n}"), "steps": steps}),
        )
        .await;
    }
    let first = env.ok("alice", "atoms_workflow_list", json!({"workspace_id": ws, "limit": 2})).await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let rest = env
        .ok(
            "alice",
            "atoms_workflow_list",
            json!({"workspace_id": ws, "limit": 2, "cursor": first["next_cursor"]}),
        )
        .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next_cursor"], Value::Null);
}

//! The five Atoms tools as data: each tool's operations, the database function behind each
//! operation, and the arguments each operation takes. Schemas, validation and dispatch are all
//! derived from this one table, so a new operation is one line here and one function in SQL.
//!
//! Argument names are the public contract (agents hard-code them) and are the database
//! functions' own: a call passes `arguments` minus `operation` to the function unchanged.

use serde_json::{Value, json};

/// One tool.
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    /// Written for a model: when to use which operation.
    pub description: &'static str,
    pub operations: &'static [Operation],
    /// True when no operation changes anything.
    pub read_only: bool,
}

/// One operation of a tool.
pub struct Operation {
    pub name: &'static str,
    /// The `public.atoms_*` function that performs it.
    pub function: &'static str,
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

const fn op(
    name: &'static str,
    function: &'static str,
    required: &'static [&'static str],
    optional: &'static [&'static str],
) -> Operation {
    Operation { name, function, required, optional }
}

const PAGE: &[&str] = &["limit", "cursor"];

pub static TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "workspace_tool",
        title: "Workspaces",
        description: "Workspaces hold a team's knowledge graph. Start with list_workspaces to find \
            workspace ids; get_workspace_info summarises one (entity counts by type, members, last \
            activity). Owners share a workspace with set_member / remove_member (anyone may remove \
            themselves). delete_workspace hides the workspace and everything in it.",
        read_only: false,
        operations: &[
            op("list_workspaces", "atoms_workspace_list", &[], PAGE),
            op("create_workspace", "atoms_workspace_create", &["name"], &["description", "metadata"]),
            op("read_workspace", "atoms_workspace_get", &["workspace_id"], &[]),
            op(
                "update_workspace",
                "atoms_workspace_update",
                &["workspace_id"],
                &["name", "description", "metadata"],
            ),
            op("delete_workspace", "atoms_workspace_delete", &["workspace_id"], &[]),
            op("list_projects", "atoms_workspace_projects", &["workspace_id"], PAGE),
            op("get_workspace_info", "atoms_workspace_info", &["workspace_id"], &[]),
            op(
                "set_member",
                "atoms_workspace_member_set",
                &["workspace_id", "role"],
                &["user_id", "user_email"],
            ),
            op(
                "remove_member",
                "atoms_workspace_member_remove",
                &["workspace_id"],
                &["user_id", "user_email"],
            ),
        ],
    },
    ToolSpec {
        name: "entity_tool",
        title: "Entities",
        description: "Entities are the typed nodes of the graph (person, project, document, ...). \
            Prefer search_entities (ranked, typo-tolerant) over list_entities in large workspaces. \
            create_entity takes one entity, or a batch in `items` (all or nothing). Pass \
            expected_version from your last read to update_entity / delete_entity so you never \
            overwrite someone else's change.",
        read_only: false,
        operations: &[
            op(
                "list_entities",
                "atoms_entity_list",
                &["workspace_id"],
                &["type", "types", "sort", "limit", "cursor"],
            ),
            op(
                "create_entity",
                "atoms_entity_create",
                &["workspace_id"],
                &["type", "name", "metadata", "items"],
            ),
            op("read_entity", "atoms_entity_get", &["entity_id"], &["include_relationships"]),
            op(
                "update_entity",
                "atoms_entity_update",
                &["entity_id"],
                &["name", "type", "metadata", "metadata_mode", "expected_version"],
            ),
            op("delete_entity", "atoms_entity_delete", &["entity_id"], &["expected_version"]),
            op(
                "search_entities",
                "atoms_entity_search",
                &["workspace_id", "query"],
                &["type", "types", "limit", "cursor"],
            ),
        ],
    },
    ToolSpec {
        name: "relationship_tool",
        title: "Relationships",
        description: "Relationships are typed, directed edges between two entities of one workspace. \
            list_relationships pages through one entity's edges (outgoing by default); \
            get_relationship_graph walks the neighbourhood of an entity up to `depth` hops and says \
            `truncated` when it stopped early.",
        read_only: false,
        operations: &[
            op(
                "create_relationship",
                "atoms_relationship_create",
                &["source_id", "target_id", "type"],
                &["metadata"],
            ),
            op(
                "list_relationships",
                "atoms_relationship_list",
                &["entity_id"],
                &["direction", "type", "types", "limit", "cursor"],
            ),
            op(
                "update_relationship",
                "atoms_relationship_update",
                &["relationship_id"],
                &["type", "metadata", "metadata_mode"],
            ),
            op("delete_relationship", "atoms_relationship_delete", &["relationship_id"], &[]),
            op(
                "get_relationship_graph",
                "atoms_relationship_graph",
                &["entity_id"],
                &["depth", "direction", "types"],
            ),
        ],
    },
    ToolSpec {
        name: "workflow_tool",
        title: "Workflows",
        description: "A workflow is a saved list of steps, each one tool operation (e.g. \
            entity_tool.create_entity), run in one transaction: all steps happen or none. In step \
            arguments, \"${steps.N.<path>}\" is a field of step N's result and \"${inputs.<key>}\" an \
            input of execute_workflow. Use dry_run to validate, idempotency_key to make retries safe.",
        read_only: false,
        operations: &[
            op(
                "create_workflow",
                "atoms_workflow_create",
                &["workspace_id", "name", "steps"],
                &["description"],
            ),
            op(
                "execute_workflow",
                "atoms_workflow_execute",
                &["workflow_id"],
                &["inputs", "dry_run", "idempotency_key"],
            ),
            op("get_workflow_status", "atoms_workflow_run_status", &["run_id"], &[]),
            op("list_workflows", "atoms_workflow_list", &["workspace_id"], PAGE),
            op("delete_workflow", "atoms_workflow_delete", &["workflow_id"], &[]),
        ],
    },
    ToolSpec {
        name: "query_tool",
        title: "Queries",
        description: "Read-only analysis of one workspace. query_entities filters on fields \
            ([{field, op, value}]: name, type, created_at, updated_at or metadata.<key>) with a sort; \
            advanced_search adds ranked full text; get_query_stats counts by type and finds the most \
            connected entities; export_results returns a page of entities or relationships as json, \
            ndjson or csv (continue with next_cursor).",
        read_only: true,
        operations: &[
            op(
                "query_entities",
                "atoms_query_entities",
                &["workspace_id"],
                &["filters", "sort", "created_after", "created_before", "limit", "cursor"],
            ),
            op(
                "advanced_search",
                "atoms_search_advanced",
                &["workspace_id"],
                &["query", "filters", "types", "created_after", "created_before", "limit", "cursor"],
            ),
            op("get_query_stats", "atoms_stats", &["workspace_id"], &[]),
            op(
                "export_results",
                "atoms_export",
                &["workspace_id"],
                &["kind", "types", "filters", "format", "limit", "cursor"],
            ),
        ],
    },
];

/// The JSON Schema and meaning of an argument of `tool` (the operations using it are added per
/// tool). Limits are the database functions' own.
pub fn property(tool: &str, name: &str) -> (Value, &'static str) {
    let uuid = json!({"type": "string", "format": "uuid"});
    let type_name = json!({"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"});
    let filters = json!({"type": "array", "maxItems": 20, "items": {"type": "object", "properties": {
        "field": {"type": "string", "description": "name, type, created_at, updated_at or metadata.<key>"},
        "op": {"type": "string", "enum": ["eq", "neq", "lt", "lte", "gt", "gte", "in", "contains", "ilike", "exists"]},
        "value": {}}, "required": ["field", "op"]}});
    match name {
        "workspace_id" => (uuid, "Workspace id."),
        "entity_id" => (uuid, "Entity id."),
        "relationship_id" => (uuid, "Relationship id."),
        "workflow_id" => (uuid, "Workflow id."),
        "run_id" => (uuid, "Workflow run id (from execute_workflow)."),
        "source_id" => (uuid, "Entity the relationship starts from."),
        "target_id" => (uuid, "Entity the relationship points to."),
        // Workspace and workflow names are shorter than entity names.
        "name" if matches!(tool, "workspace_tool" | "workflow_tool") => {
            (json!({"type": "string", "maxLength": 200}), "Name.")
        }
        "name" => (json!({"type": "string", "maxLength": 500}), "Name."),
        "description" => (json!({"type": "string", "maxLength": 5000}), "Description."),
        "type" => (type_name, "Type: a lowercase identifier such as person, project, depends_on."),
        "types" => (json!({"type": "array", "items": type_name, "maxItems": 50}), "Only these types."),
        "metadata" => {
            (json!({"type": "object"}), "Free-form JSON object; on update, keys set to null are removed.")
        }
        "metadata_mode" => (
            json!({"type": "string", "enum": ["merge", "replace"]}),
            "merge (default) or replace the metadata.",
        ),
        "expected_version" => (
            json!({"type": "integer", "minimum": 1}),
            "The version you last read; the call fails with conflict if it changed.",
        ),
        "items" => (
            json!({"type": "array", "maxItems": 500, "items": {"type": "object", "properties": {
                "type": type_name, "name": {"type": "string"}, "metadata": {"type": "object"}}, "required": ["type", "name"]}}),
            "A batch of entities to create together (all or nothing), instead of type/name/metadata.",
        ),
        "direction" => (
            json!({"type": "string", "enum": ["out", "in", "both"]}),
            "Edges to follow: out (default), in or both.",
        ),
        "depth" => {
            (json!({"type": "integer", "minimum": 1, "maximum": 5}), "Hops from the entity (1-5, default 2).")
        }
        "include_relationships" => {
            (json!({"type": "boolean"}), "Also return the first 50 relationships each way.")
        }
        "query" => (
            json!({"type": "string", "maxLength": 500}),
            "Search words; when no word matches, the nearest names (typos are tolerated).",
        ),
        "filters" => (filters, "Conditions [{field, op, value}], all of which must hold."),
        "sort" => (
            json!({"type": "object", "properties": {"field": {"type": "string"}, "direction": {"type": "string", "enum": ["asc", "desc"]}}, "required": ["field"]}),
            "Order: {field, direction}; field as in filters.",
        ),
        "created_after" | "created_before" => {
            (json!({"type": "string", "format": "date-time"}), "RFC 3339 time bound on created_at.")
        }
        "limit" => {
            (json!({"type": "integer", "minimum": 1, "maximum": 200}), "Page size (default 50, max 200).")
        }
        "cursor" => (json!({"type": "string"}), "next_cursor of the previous page."),
        "user_id" => (
            json!({"type": "string", "maxLength": 255}),
            "The person's sign-in subject (works before they ever signed in).",
        ),
        "user_email" => {
            (json!({"type": "string", "maxLength": 320}), "The email of someone who has signed in to Atoms.")
        }
        "role" => {
            (json!({"type": "string", "enum": ["viewer", "editor", "owner"]}), "Role in the workspace.")
        }
        "steps" => (
            json!({"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "object", "properties": {
                "operation": {"type": "string", "description": "tool.operation, e.g. entity_tool.create_entity"},
                "arguments": {"type": "object"}}, "required": ["operation"]}}),
            "Steps, run in order in one transaction.",
        ),
        "inputs" => (json!({"type": "object"}), "Values the steps use as ${inputs.<key>}."),
        "dry_run" => (json!({"type": "boolean"}), "Run, report, and roll everything back."),
        "idempotency_key" => (
            json!({"type": "string", "maxLength": 200}),
            "Same key, same workflow: runs once, later calls replay the first run.",
        ),
        "kind" => (
            json!({"type": "string", "enum": ["entities", "relationships"]}),
            "What to export (default entities).",
        ),
        "format" => {
            (json!({"type": "string", "enum": ["json", "ndjson", "csv"]}), "Export format (default json).")
        }
        _ => (json!({}), ""),
    }
}

//! `query_tool.export_results`: one page of `atoms_export` rendered as `json`, `ndjson` or `csv`
//! (RFC 4180: fields with commas, quotes or line breaks are quoted, quotes doubled), returned as
//! an embedded resource with its MIME type beside the usual envelope.

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ResourceContents};
use serde_json::{Value, json};

use super::ToolError;

#[derive(Clone, Copy)]
pub(super) enum Format {
    Json,
    Ndjson,
    Csv,
}

impl Format {
    /// Removes `format` from the arguments (the database function does not take it).
    pub(super) fn take(arguments: &mut JsonObject) -> Result<Self, ToolError> {
        match arguments.remove("format") {
            None | Some(Value::Null) => Ok(Self::Json),
            Some(Value::String(name)) if name == "json" => Ok(Self::Json),
            Some(Value::String(name)) if name == "ndjson" => Ok(Self::Ndjson),
            Some(Value::String(name)) if name == "csv" => Ok(Self::Csv),
            Some(_) => Err(ToolError::invalid("format must be json, ndjson or csv")),
        }
    }

    fn mime_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }
}

/// The envelope (row count, format, next cursor) plus the rendered page as a resource.
pub(super) fn result(page: Value, format: Format) -> CallToolResult {
    let rows = page["rows"].as_array().cloned().unwrap_or_default();
    let kind = page["kind"].as_str().unwrap_or("entities").to_owned();
    let mut envelope = json!({"operation": "export_results",
        "data": {"kind": kind, "format": format.name(), "rows": rows.len()}});
    if let Some(cursor) = page.get("next_cursor").filter(|c| !c.is_null()) {
        envelope["next_cursor"] = cursor.clone();
    }
    let text = match format {
        Format::Json => Value::Array(rows).to_string(),
        Format::Ndjson => rows.iter().map(|row| format!("{row}\n")).collect(),
        Format::Csv => csv(&kind, &rows),
    };
    let resource = ResourceContents::TextResourceContents {
        uri: format!("atoms://exports/{kind}.{}", format.name()),
        mime_type: Some(format.mime_type().to_owned()),
        text,
        meta: None,
    };
    let mut result = super::structured(envelope);
    result.content.push(ContentBlock::resource(resource));
    result
}

/// The columns of each export kind, in order.
fn columns(kind: &str) -> &'static [&'static str] {
    if kind == "relationships" {
        &[
            "id",
            "workspace_id",
            "source_id",
            "target_id",
            "type",
            "metadata",
            "created_by",
            "created_at",
            "updated_at",
        ]
    } else {
        &[
            "id",
            "workspace_id",
            "type",
            "name",
            "metadata",
            "version",
            "created_by",
            "updated_by",
            "created_at",
            "updated_at",
        ]
    }
}

fn csv(kind: &str, rows: &[Value]) -> String {
    let columns = columns(kind);
    let mut out = columns.join(",");
    out.push_str("\r\n");
    for row in rows {
        let fields: Vec<String> = columns
            .iter()
            .map(|column| match &row[*column] {
                Value::Null => String::new(),
                Value::String(text) => quote(text),
                other => quote(&other.to_string()),
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// RFC 4180 quoting: only when needed.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks() {
        let rows =
            [json!({"id": "1", "type": "doc", "name": "a, \"b\"\nc", "metadata": {"k": 1}, "version": 2})];
        let text = csv("entities", &rows);
        let line = text.split("\r\n").nth(1).expect("a data line");
        assert!(line.starts_with("1,,doc,\"a, \"\"b\"\"\nc\",\"{\"\"k\"\":1}\",2,"), "{line}");
    }
}

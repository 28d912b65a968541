"""Drives the Atoms tools through the official Python MCP SDK client (PyPI `mcp`, pinned in
requirements.txt), one call per line, so a Rust test can write the scenario and act between
calls (stop the database, say) while every call goes through the real SDK.

    drive_tools.py URL MODE [TOKEN]

MODE is the SDK's `Client(mode=...)`: `legacy` (initialize handshake, `Mcp-Session-Id`) or
`auto` (probe `server/discover`, adopt 2026-07-28). TOKEN, when given, is sent as
`Authorization: Bearer TOKEN` on every request (a user of `atoms dev-token`).

Protocol (JSON lines): once connected the script prints
`{"protocol_version", "tools": [names], "input_schemas": {name: inputSchema}}`; then for each line `{"tool", "arguments"}` read from stdin it
prints one report: `{"result": <the CallToolResult as the SDK parsed it, in wire form>,
"resources": [<each embedded resource's text parsed by its MIME type>]}`, or
`{"exception": <type>, "code": <JSON-RPC code or null>, "message": <text>}` when the SDK raised
(e.g. a JSON-RPC error, or a
structuredContent that fails the tool's outputSchema). CSV is read with Python's `csv` module
into rows of column → value; NDJSON and JSON with `json`. At end of input the client disconnects
(in legacy mode the SDK ends the session with DELETE); the SDK's own warnings go to stderr.
"""

import asyncio
import csv
import io
import json
import logging
import sys

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def parse_resource(mime_type: str | None, text: str):
    """An embedded resource's text as data, the way a consumer of that MIME type would read it."""
    if mime_type == "text/csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    if mime_type == "application/x-ndjson":
        return [json.loads(line) for line in text.splitlines() if line]
    if mime_type == "application/json":
        return json.loads(text)
    return text


async def call(client: Client, request: dict) -> dict:
    try:
        result = await client.call_tool(request["tool"], request.get("arguments"))
    except Exception as error:  # the report says what the SDK raised; the test decides
        return {"exception": type(error).__name__, "code": getattr(error, "code", None), "message": str(error)}
    resources = [
        parse_resource(block.resource.mime_type, block.resource.text)
        for block in result.content
        if block.type == "resource" and hasattr(block.resource, "text")
    ]
    return {"result": result.model_dump(mode="json", by_alias=True, exclude_none=True), "resources": resources}


def emit(report: dict) -> None:
    print(json.dumps(report), flush=True)


async def main(url: str, mode: str, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with create_mcp_http_client(headers=headers) as http:
        # A bounded read: a server that never answers fails the test instead of hanging it.
        async with Client(streamable_http_client(url, http_client=http), mode=mode, read_timeout_seconds=60) as client:
            tools = await client.list_tools()
            emit(
                {
                    "protocol_version": client.protocol_version,
                    "tools": [tool.name for tool in tools.tools],
                    "input_schemas": {tool.name: tool.input_schema for tool in tools.tools},
                }
            )
            while line := await anyio.to_thread.run_sync(sys.stdin.readline):
                emit(await call(client, json.loads(line)))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))

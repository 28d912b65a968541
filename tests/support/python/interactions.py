"""The official Python MCP SDK client (PyPI `mcp`) in Atoms' interactive moments, in the mode
given as the second argument (`legacy`: a 2025-11-25 session; `auto`: the 2026-07-28 era).

- Confirmation before a workspace is deleted (legacy: the server sends `elicitation/create`;
  2026-07-28: `input_required` round trips the SDK handles): for each answer (decline, then
  accept) it creates a workspace with one entity, asks to delete it, and records what the person
  was asked and what came back.
- Progress: a workflow run with a progress callback records the notifications received.

Prints one JSON line; `tests/python_sdk.rs` asserts on it.
"""

import asyncio
import json
import sys

from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client


def structured(result) -> dict:
    return result.structured_content or json.loads(result.content[0].text)


async def scenario(url: str, mode: str, answer: str) -> dict:
    asked: list[str] = []

    async def on_elicit(context, params):
        asked.append(params.message)
        if answer == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    async with Client(streamable_http_client(url), mode=mode, elicitation_callback=on_elicit) as client:
        created = await client.call_tool("workspace_tool", {"operation": "create_workspace", "name": f"Doomed {answer}"})
        workspace = structured(created)["data"]["id"]
        await client.call_tool("entity_tool", {"operation": "create_entity", "workspace_id": workspace, "type": "doc", "name": "x"})
        deleted = await client.call_tool("workspace_tool", {"operation": "delete_workspace", "workspace_id": workspace})
        read = await client.call_tool("workspace_tool", {"operation": "read_workspace", "workspace_id": workspace})
        return {
            "asked": asked,
            "is_error": bool(deleted.is_error),
            "deleted": structured(deleted)["data"]["deleted"],
            "still_readable": not read.is_error,
            "protocol_version": client.session.protocol_version,
        }


async def progress(url: str, mode: str) -> list[str]:
    seen: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(f"{progress}/{total} {message}")

    async with Client(streamable_http_client(url), mode=mode) as client:
        created = await client.call_tool("workspace_tool", {"operation": "create_workspace", "name": "Progress"})
        workspace = structured(created)["data"]["id"]
        flow = await client.call_tool("workflow_tool", {"operation": "create_workflow", "workspace_id": workspace,
            "name": "one", "steps": [{"operation": "entity_tool.create_entity", "arguments": {"type": "doc", "name": "x"}}]})
        run = await client.call_tool("workflow_tool", {"operation": "execute_workflow",
            "workflow_id": structured(flow)["data"]["id"]}, progress_callback=on_progress)
        assert structured(run)["data"]["status"] == "succeeded", run
    return seen


async def main(url: str, mode: str) -> None:
    report = {answer: await scenario(url, mode, answer) for answer in ("decline", "accept")}
    report["progress"] = await progress(url, mode)
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

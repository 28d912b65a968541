"""The official Python MCP SDK client (PyPI `mcp`, pinned in requirements.txt) against Atoms.

Connects to the Streamable HTTP endpoint given as the only argument in legacy mode (the
2025-11-25 initialize handshake and an `Mcp-Session-Id` session), lists the tools, disconnects
(the SDK ends the session with `DELETE`), and prints one JSON line: the negotiated protocol
version and the tool names. The SDK's own warnings go to stderr, where `tests/python_sdk.rs`
looks for them (e.g. "Session termination failed: 202").
"""

import asyncio
import json
import logging
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str) -> None:
    async with Client(streamable_http_client(url), mode="legacy") as client:
        version = client.session.protocol_version
        tools = await client.list_tools()
    print(json.dumps({"protocol_version": version, "tools": [tool.name for tool in tools.tools]}))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(sys.argv[1]))

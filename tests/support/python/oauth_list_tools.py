"""The official Python MCP SDK client signing in to Atoms through OAuth, as an MCP client does.

Usage: oauth_list_tools.py <mcp url> <mode>   (mode: "legacy" or a protocol version)

The SDK's own `OAuthClientProvider` does the whole discovery: the first request gets 401 with a
`WWW-Authenticate` challenge, the SDK reads the Protected Resource Metadata it names, then the
authorization server's metadata, registers a client (RFC 7591), sends the person to the
authorization endpoint with PKCE and the resource indicator, exchanges the code, and retries
with the token. The "person" here is `redirect_handler`: it opens the authorization URL like a
browser would (one hop, no redirect following) and hands the code and state back.

Prints one JSON line: the tool names and the access token's length (the test looks for the
token itself in the server's logs, so it is printed too, on its own field).
"""

import asyncio
import json
import logging
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class MemoryStorage:
    """Token storage for one run."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def main(url: str, mode: str) -> None:
    redirected: dict[str, str | None] = {}
    authorize_urls: list[str] = []

    async def redirect_handler(authorization_url: str) -> None:
        authorize_urls.append(authorization_url)
        async with httpx2.AsyncClient() as browser:
            response = await browser.get(authorization_url, follow_redirects=False)
        if response.status_code not in (302, 303, 307):
            raise RuntimeError(f"authorization endpoint answered {response.status_code}: {response.text}")
        query = parse_qs(urlparse(response.headers["location"]).query)
        redirected["code"] = query["code"][0]
        redirected["state"] = query.get("state", [None])[0]

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=redirected["code"], state=redirected["state"])

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="atoms-oauth-test",
            redirect_uris=["http://127.0.0.1:9/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    http = create_mcp_http_client(auth=provider)
    async with http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            tools = await client.list_tools()
    query = parse_qs(urlparse(authorize_urls[0]).query) if authorize_urls else {}
    print(
        json.dumps(
            {
                "tools": [tool.name for tool in tools.tools],
                "authorizations": len(authorize_urls),
                "resource": query.get("resource", [None])[0],
                "code_challenge_method": query.get("code_challenge_method", [None])[0],
                "access_token": storage.tokens.access_token if storage.tokens else None,
            }
        )
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(sys.argv[1], sys.argv[2]))

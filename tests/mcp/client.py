# Drives a running server's /mcp with the official MCP Python SDK (tests/mcp/requirements.txt),
# as an agent would, and prints what it saw as one JSON object for tests/api/mcp.rs to check.
# It asserts nothing itself: the Rust test holds the bar.
#
#   .sandbox/mcp-venv/bin/python tests/mcp/client.py URL SCENARIO [API_KEY]
#
# Scenarios: "tools" (list, a pandas plot, a failing script, validate_python, list_environment),
# "sessions" (create, two cells, close, a cell after close), "refused" (no key: the connection
# fails), "auto" (the SDK's high-level Client, which first probes the handshake-free 2026-07-28
# revision with server/discover and falls back to initialize; no key).
# Not here: raw JSON-RPC edge cases (the Rust test sends those itself).

import asyncio
import base64
import json
import sys

from mcp import ClientSession
from mcp.client import Client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

PLOT = """
import pandas as pd
import matplotlib.pyplot as plt

def main():
    df = pd.DataFrame({"x": [1, 2, 3], "y": [2, 4, 8]})
    df.plot(x="x", y="y")
    print("plotted", len(df))
    return {"total": int(df.y.sum())}
"""

FAILING = "def main():\n    return 1 / 0\n"
CHECKED = "import numpy\nimport nosuchmodule\ndef main(): pass\n"
CELL = "import pandas as pd\ndf = pd.DataFrame({'v': [1, 2, 3]})"


def result_of(call):
    """A CallToolResult as plain JSON: its flags, structured content and content blocks."""
    blocks = []
    for block in call.content:
        if block.type == "image":
            data = base64.b64decode(block.data)
            blocks.append(
                {
                    "type": "image",
                    "mimeType": block.mime_type,
                    "png": data.startswith(b"\x89PNG\r\n\x1a\n"),
                    "bytes": len(data),
                }
            )
        elif block.type == "text":
            blocks.append({"type": "text", "text": block.text})
        else:
            blocks.append({"type": block.type})
    return {
        "isError": call.is_error,
        "structured": call.structured_content,
        "content": blocks,
    }


STATUSES = []


async def record_status(response):
    STATUSES.append(response.status_code)


async def connect(url, key, body):
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with create_mcp_http_client(headers=headers) as http:
        http.event_hooks["response"].append(record_status)
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                return await body(session, init)


async def tools(session, init):
    listed = await session.list_tools()
    return {
        "protocol_version": init.protocol_version,
        "server": init.server_info.name,
        "tools": [
            {
                "name": t.name,
                "has_input_schema": bool(t.input_schema),
                "has_output_schema": bool(t.output_schema),
                "description": t.description,
            }
            for t in listed.tools
        ],
        "plot": result_of(await session.call_tool("run_python", {"code": PLOT})),
        "failing": result_of(await session.call_tool("run_python", {"code": FAILING})),
        "validate": result_of(await session.call_tool("validate_python", {"code": CHECKED})),
        "environment": result_of(await session.call_tool("list_environment", {})),
        "bad_arguments": result_of(await session.call_tool("run_python", {"script": "x"})),
    }


async def sessions(session, init):
    created = result_of(await session.call_tool("create_session", {"idle_timeout": 60}))
    sid = created["structured"]["session_id"]
    first = result_of(await session.call_tool("run_python", {"code": CELL, "session_id": sid}))
    second = result_of(await session.call_tool("run_python", {"code": "int(df.v.sum())", "session_id": sid}))
    closed = result_of(await session.call_tool("close_session", {"session_id": sid}))
    after = result_of(await session.call_tool("run_python", {"code": "1", "session_id": sid}))
    return {"created": created, "first": first, "second": second, "closed": closed, "after": after}


async def auto(url):
    async with Client(url) as client:
        listed = await client.list_tools()
        run = await client.call_tool("run_python", {"code": "def main():\n    return [1, 2]\n"})
        return {
            "protocol_version": client.protocol_version,
            "tools": [t.name for t in listed.tools],
            "run": result_of(run),
        }


async def main():
    url, scenario = sys.argv[1], sys.argv[2]
    key = sys.argv[3] if len(sys.argv) > 3 else None
    if scenario == "refused":
        try:
            await connect(url, key, tools)
            out = {"refused": False}
        except BaseException as e:  # the SDK raises exception groups
            out = {"refused": True, "error": repr(e)[:2000], "statuses": STATUSES}
    elif scenario == "auto":
        out = await auto(url)
    else:
        out = await connect(url, key, {"tools": tools, "sessions": sessions}[scenario])
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())

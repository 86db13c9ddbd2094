# The README's MCP example ("Use from an agent (MCP)"), verbatim: tests/api/mcp.rs checks that the
# README holds this file's code and runs it against a real server.
import asyncio
import base64
import sys

from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

SCRIPT = """
import pandas as pd

def main():
    df = pd.DataFrame({"day": [1, 2, 3, 4], "sales": [3, 5, 4, 8]})
    df.plot(x="day", y="sales", title="Sales")
    return df.sales.describe()[["mean", "max"]]
"""


async def main(url, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                print("tools:", [tool.name for tool in tools.tools])
                answer = await session.call_tool("run_python", {"code": SCRIPT})
                print("result:", answer.structured_content["result"])
                for block in answer.content:
                    if block.type == "image":
                        with open("figure.png", "wb") as f:
                            f.write(base64.b64decode(block.data))
                        print("saved figure.png,", block.mime_type)


asyncio.run(main(*sys.argv[1:]))

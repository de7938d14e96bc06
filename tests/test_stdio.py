"""The real thing: `enrich-mcp` as a stdio subprocess, driven by the MCP client on both protocol eras."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from enrich_mcp.stdio import check


def params(home: Path, **extra: str) -> StdioServerParameters:
    # env=None would hand the child only a minimal environment: pass what it needs explicitly.
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "enrich_mcp"],
        env={"ENRICH_MCP_SANDBOX": "1", "ENRICH_MCP_HOME": str(home), "PYTHONPATH": str(Path.cwd()), **extra},
    )


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_server_serves_tools(home: Path, mode: str) -> None:
    with anyio.fail_after(60):
        async with Client(params(home), mode=mode) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"sixtyfour_find_email", "list_jobs", "spend_report"} <= tools
            result = await client.call_tool(
                "sixtyfour_find_email", {"lead": {"name": "Grace Hopper", "company": "Navy"}}
            )
            assert not result.is_error, result.content
            assert result.structured_content is not None
            assert result.structured_content["emails"][0]["address"] == "grace.hopper@navy.example.com"
            spend = await client.read_resource("enrich://spend")
            assert '"spent_usd": 0.05' in spend.contents[0].text  # type: ignore[union-attr]


async def test_stdout_carries_only_protocol_and_missing_keys_are_explained(home: Path) -> None:
    """Without keys or sandbox, vendor toolsets are hidden and stderr says which variable to set."""
    with anyio.fail_after(60):
        proc = await anyio.run_process(
            [sys.executable, "-m", "enrich_mcp", "tools"],
            env={"ENRICH_MCP_HOME": str(home), "PYTHONPATH": str(Path.cwd()), "PATH": "/usr/bin:/bin"},
            check=True,
        )
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "sixtyfour_find_email" not in out
    assert "list_jobs" in out
    assert "SIXTYFOUR_API_KEY" in err


def _request(rid: int, arguments: str) -> str:
    """A tools/call line with ``arguments`` spliced in raw (json.dumps could not write the hostile ones)."""
    head = f'{{"jsonrpc":"2.0","id":{rid},"method":"tools/call","params":{{"name":"clean_leads","arguments":'
    return head + arguments + "}}"


async def test_unreadable_json_rpc_lines_get_an_error_reply_not_silence(home: Path) -> None:
    """The SDK's reader drops these lines with a debug log; the client would wait forever for its answer."""
    hostile = {
        7: (_request(7, "[" * 300 + "]" * 300), -32700, "nested too deeply"),
        8: (_request(8, '{"rows": [{"name": "\\ud800"}]}'), -32700, "lone UTF-16 surrogate"),
        9: (_request(9, '{"rows": [{"n": ' + "9" * 5000 + "}]}"), -32700, "too large"),
        10: ('{"jsonrpc":"2.0","id":10,"method":5}', -32600, "Invalid request"),
    }
    lines = [
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
        '"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        *(line for line, _, _ in hostile.values()),
        "this is not json",
        '{"jsonrpc":"2.0","method":"notifications/' + "[" * 300,  # unreadable, id unknown: answered with id null
        '{"jsonrpc":"2.0","method":"notifications/cancelled","params":' + "[" * 300 + "]" * 300 + "}",  # a notification
        '{"jsonrpc":"2.0","id":11,"method":"ping"}',
    ]
    env = {"ENRICH_MCP_SANDBOX": "1", "ENRICH_MCP_HOME": str(home), "PYTHONPATH": str(Path.cwd())}
    replies: dict[object, dict[str, object]] = {}
    nulls: list[dict[str, object]] = []
    with anyio.fail_after(60):
        async with await anyio.open_process(
            [sys.executable, "-m", "enrich_mcp"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as process:
            assert process.stdin is not None and process.stdout is not None
            await process.stdin.send(("\n".join(lines) + "\n").encode())
            buffer = b""
            while 11 not in replies:
                buffer += await process.stdout.receive()
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    message = json.loads(raw)
                    if message.get("id") is None:
                        nulls.append(message)
                    else:
                        replies[message["id"]] = message
            await process.stdin.aclose()
    for rid, (_, code, words) in hostile.items():
        error = replies[rid]["error"]
        assert isinstance(error, dict) and error["code"] == code, replies[rid]
        assert words in str(error["message"]), error
    assert [n["error"]["code"] for n in nulls] == [-32700, -32700]  # type: ignore[index]
    assert replies[11]["result"] == {}


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ('{"jsonrpc":"2.0","id":1,"method":"ping"}', None),
        ('{"jsonrpc":"2.0","id":"a","method":"x","params":{"v":"\\ud800"}}', ("a", -32700)),
        ('{"jsonrpc":"2.0","id":true,"method":"x","params":{"v":"\\ud800"}}', (None, -32700)),
        ('[{"jsonrpc":"2.0","id":1,"method":"ping"}]', (None, -32600)),
        ('{"jsonrpc":"2.0","method":"x","params":{"v":"\\ud800"}}', "silent"),  # a notification
        ('{"jsonrpc":"2.0","id":3,"result":{"v":"\\ud800"}}', "silent"),  # a response
    ],
)
def test_check_answers_what_the_sdk_would_drop(line: str, answer: object) -> None:
    readable, error = check(line)
    if answer is None:
        assert readable and error is None
    elif answer == "silent":
        assert not readable and error is None
    else:
        assert not readable and error is not None
        assert (error.id, error.error.code) == answer

"""openai-agents against enrich-mcp over stdio: every tool converted in strict mode, one called, no model.

    .venv-clients/agents/bin/python clients/agents/client.py --server .venv/bin/enrich-mcp --home DIR

Each MCP tool goes through ``MCPUtil.to_function_tool(tool, server, convert_schemas_to_strict=True)``;
a tool whose schema the framework could not make strict silently falls back to a non-strict
``FunctionTool`` (``strict_json_schema`` False), so that flag is what is counted. The framework's
reason for each fallback (its INFO log line) is printed beside the tool. Then ``validate_emails`` is
invoked through the wrapper a model's tool call would go through (``on_invoke_tool``).
The last line is ``RESULT {json}`` for tests/clients/test_real_clients.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys

# The framework hides schema-conversion errors unless told it may log tool data.
os.environ.setdefault("OPENAI_AGENTS_DONT_LOG_TOOL_DATA", "0")
# No model is involved, so nothing is traced to OpenAI either.
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import set_tracing_disabled
from agents.mcp import MCPServerStdio, MCPUtil
from agents.tool_context import ToolContext

WRAPPED_TOOL = "validate_emails"
WRAPPED_ARGS = {"emails": ["ada@example.com", "not-an-email"], "check_mx": False}


class Reasons(logging.Handler):
    """Collects the framework's "Error converting MCP schema to strict mode: ..." lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "strict mode" in message:
            self.messages.append(message.split(": ", 1)[-1])


async def run(server_command: str, home: str) -> dict[str, object]:
    set_tracing_disabled(True)
    reasons = Reasons()
    framework_log = logging.getLogger("openai.agents")
    framework_log.addHandler(reasons)
    framework_log.setLevel(logging.INFO)
    framework_log.propagate = False
    env = {
        "ENRICH_MCP_SANDBOX": "1",
        "ENRICH_MCP_HOME": home,
        "ENRICH_MCP_POLL_INTERVAL_SECONDS": "0.05",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    params = {"command": server_command, "args": [], "env": env}
    async with MCPServerStdio(
        params, name="enrich-mcp", client_session_timeout_seconds=60, use_structured_content=True
    ) as server:
        tools = await server.list_tools()
        strict: list[str] = []
        fallback: dict[str, str] = {}
        converted = {}
        for tool in tools:
            reasons.messages.clear()
            function_tool = MCPUtil.to_function_tool(tool, server, convert_schemas_to_strict=True)
            converted[tool.name] = function_tool
            if function_tool.strict_json_schema:
                strict.append(tool.name)
            else:
                fallback[tool.name] = "; ".join(reasons.messages) or "(no reason logged)"

        wrapper = converted[WRAPPED_TOOL]
        arguments = json.dumps(WRAPPED_ARGS)
        context = ToolContext(context=None, tool_name=wrapper.name, tool_call_id="call_1", tool_arguments=arguments)
        output = await wrapper.on_invoke_tool(context, arguments)

    text = output if isinstance(output, str) else json.dumps(output, default=str)
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    verdicts = [r.get("verdict") for r in answer.get("results", [])] if isinstance(answer, dict) else []
    print(f"openai-agents: {len(tools)} tools listed over stdio")
    print(f"strict conversion: {len(strict)} strict, {len(fallback)} fell back to non-strict")
    for name, reason in sorted(fallback.items()):
        print(f"  fallback {name}: {reason[:160]}")
    print(f"on_invoke_tool({WRAPPED_TOOL}) returned {len(text)} characters; verdicts {verdicts}")
    return {
        "listed": len(tools),
        "strict": sorted(strict),
        "fallback": sorted(fallback),
        "wrapped_tool": WRAPPED_TOOL,
        "wrapped_verdicts": verdicts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="path of the enrich-mcp executable")
    parser.add_argument("--home", required=True, help="ENRICH_MCP_HOME for the server (a temp directory)")
    args = parser.parse_args()
    result = asyncio.run(run(args.server, args.home))
    print("RESULT " + json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""``build_server(settings)``: the one place where enrich-mcp is assembled.

Nothing is built at import time. Each call makes a fresh server with its own
cache, ledgers, vendor clients and (in sandbox mode) fake vendors, so tests
build as many as they like.
"""

from __future__ import annotations

import json
import logging
import re
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated

from enrich_mcp import __version__
from enrich_mcp.budget import Budget
from enrich_mcp.cache import ResultCache, account_id
from enrich_mcp.core import register_core
from enrich_mcp.datadir import moved_aside, private_dir
from enrich_mcp.http import Rate, RetryPolicy, VendorHTTP
from enrich_mcp.jobs import Job, JobInfo, JobManager, job_uri, process_owner
from enrich_mcp.runtime import Runtime, VendorStatus
from enrich_mcp.sandbox import has_sandbox, load_sandbox
from enrich_mcp.sandbox.dns import SandboxMxResolver
from enrich_mcp.sdk import EnrichServer, connection_of, lowlevel
from enrich_mcp.settings import Settings
from enrich_mcp.stores import open_stores
from enrich_mcp.tooling import Toolset
from enrich_mcp.vendors import VendorServices, VendorSpec, discover_vendors

logger = logging.getLogger(__name__)

CORE = "core"
SANDBOX_KEY = "sandbox-key-not-secret"

INSTRUCTIONS = """\
enrich-mcp gives you B2B lead-enrichment tools over several data vendors, plus free local checks.
- Start with the free tools: clean_leads, validate_emails. Use enrich_person for "find this person's
  email/phone": it tries the cache and the cheapest configured vendor first and stops at a verified answer.
- Vendor tools (<vendor>_*) cost credits; their descriptions give the price. spend_report shows spend and budget.
  Pass confirm: true only once the user approved the cost.
- Long work returns a job handle when it takes longer than wait_seconds: poll get_job or read the
  enrich://jobs/{job_id} resource, then page results with get_job_results (use `fields` to keep answers small).
"""


def _resolve_base_url(spec: VendorSpec, settings: Settings) -> str | None:
    configured = settings.vendor(spec.name).base_url
    if configured:
        return configured
    if settings.sandbox:
        return spec.default_base_url or spec.sandbox_base_url
    return spec.default_base_url


def _vendor_status(
    spec: VendorSpec, settings: Settings, selected: set[str] | None, transported: bool = False
) -> VendorStatus:
    config = settings.vendor(spec.name)
    base_url = _resolve_base_url(spec, settings)
    status = VendorStatus(spec.name, spec.title, False, "", base_url)
    if selected is not None and spec.name not in selected:
        status.reason = "not in ENRICH_MCP_TOOLSETS"
    elif settings.sandbox and not transported and not has_sandbox(spec.name):
        status.reason = f"hidden: {spec.title} has no sandbox to serve it"
    elif not settings.sandbox and config.api_key is None:
        status.reason = f"hidden: set {spec.env_prefix}_API_KEY to enable it"
    elif base_url is None:
        status.reason = f"hidden: {spec.title} is self-hosted; set {spec.env_prefix}_BASE_URL (ending in /api/v1)"
    else:
        status.enabled = True
        status.reason = "sandbox" if settings.sandbox else "configured"
    return status


def _build_runtime(settings: Settings) -> Runtime:
    home = private_dir(settings.home, inside=False, what="data directory")
    # Checked at start, so a link planted as exports/ stops the server here, not an export later.
    private_dir(home / "exports", what="exports folder")
    prices: dict[str, float] = {}
    for spec in discover_vendors():
        prices.update({f"{spec.name}.{op}": usd for op, usd in spec.prices.items()})
    prices.update(settings.prices)
    owner = process_owner()
    stores = open_stores(settings, owner=owner)  # exports stay in the data directory anyway
    return Runtime(
        settings=settings,
        cache=ResultCache(stores.cache, ttls=settings.cache_ttls),
        budget=Budget(stores.spend, prices, settings.budget_usd, settings.confirm_above_usd),
        jobs=JobManager(
            stores.jobs,
            stores.spend,
            poll_interval_override=settings.poll_interval_seconds,
            owner=owner,
            lease_seconds=settings.lease_seconds,
            submit_grace_seconds=settings.submit_grace_seconds,
            accept_timeout_seconds=settings.http_timeout_seconds * 2,
        ),
        stores=stores,
    )


def build_server(
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> EnrichServer:
    """Assemble a server. ``transports`` overrides a vendor's HTTP transport (tests)."""
    runtime = _build_runtime(settings)
    selected = set(settings.toolsets) if settings.toolsets else None

    @asynccontextmanager
    async def lifespan(_: EnrichServer) -> AsyncIterator[Runtime]:
        async with runtime.serving():
            yield runtime

    server = EnrichServer(
        "enrich-mcp",
        title="enrich-mcp",
        description="Lead enrichment across B2B data vendors: typed, cached, budget-aware.",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=settings.log_level.upper(),  # type: ignore[arg-type]
    )
    server.runtime = runtime
    if settings.sandbox:
        runtime.mx_resolver = SandboxMxResolver()

    for spec in discover_vendors():
        status = _vendor_status(spec, settings, selected, spec.name in (transports or {}))
        runtime.status[spec.name] = status
        if not status.enabled:
            continue
        config = settings.vendor(spec.name)
        key = config.api_key.get_secret_value() if config.api_key else SANDBOX_KEY
        transport = (transports or {}).get(spec.name)
        if transport is None and settings.sandbox:
            # State in the data directory or the database: it survives restarts and is shared by replicas.
            sandbox = load_sandbox(spec.name, store=runtime.stores.sandbox(spec.name))
            runtime.sandboxes[spec.name] = sandbox
            transport = sandbox.transport()
        rate = spec.rate
        if config.rate_limit:
            rate = Rate.parse(config.rate_limit)
        status.rate = str(rate) if rate else None
        assert status.base_url is not None
        http = VendorHTTP(
            vendor=spec.name,
            base_url=status.base_url,
            auth=spec.auth,
            api_key=key,
            transport=transport,
            limiter=runtime.stores.limiter(spec.name, account_id(key), rate),
            retry=RetryPolicy(
                max_retries=settings.http_max_retries,
                base_delay=settings.retry_base_delay_seconds,
                max_delay=settings.retry_max_delay_seconds,
                retry_after_cap=settings.retry_after_cap_seconds,
            ),
            timeout=settings.http_timeout_seconds,
        )
        services = VendorServices(
            spec=spec,
            http=http,
            account=account_id(key),
            settings=settings,
            cache=runtime.cache,
            budget=runtime.budget,
            jobs=runtime.jobs,
        )
        runtime.vendors[spec.name] = services
        toolset = Toolset(spec.name, server, settings.read_only, active=not settings.dynamic_toolsets)
        spec.register(toolset, services)  # job handlers too: a restarted server resumes jobs of inactive toolsets
        runtime.toolsets[spec.name] = toolset
        status.tools = toolset.registered

    register_core(Toolset(CORE, server, settings.read_only), runtime)
    if settings.dynamic_toolsets:
        _advertise_tool_list_changes(server)
    _register_resources(server, runtime)
    _register_prompts(server)
    _register_subscriptions(server, runtime)
    _log_start(runtime)
    return server


def _advertise_tool_list_changes(server: EnrichServer) -> None:
    """Declare ``tools.listChanged`` (2025-era handshake), since enable_toolset changes the list.

    MCPServer runs every transport with ``create_initialization_options()`` and no notification
    options, and has no setting for them; wrapping that one method is the smallest way to say it.
    (2026-era clients learn it from ``subscriptions/listen``, which is served.)
    """
    from mcp.server import NotificationOptions

    low = lowlevel(server)
    create = low.create_initialization_options

    def with_tools_changed(notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any) -> Any:
        options = notification_options or NotificationOptions()
        options.tools_changed = True
        return create(options, *args, **kwargs)

    low.create_initialization_options = with_tools_changed  # type: ignore[method-assign]


def _log_start(runtime: Runtime) -> None:
    for status in runtime.status.values():
        if status.enabled:
            logger.info("toolset %s: %d tools (%s)", status.name, len(status.tools), status.reason)
        else:
            logger.warning("toolset %s %s", status.name, status.reason)


def _register_resources(server: EnrichServer, runtime: Runtime) -> None:
    def dump(value: Any) -> str:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)

    @server.resource("enrich://jobs", name="jobs", mime_type="application/json", description="Recent jobs")
    async def jobs_resource() -> str:
        jobs = await runtime.jobs.list(limit=200)
        return dump([JobInfo.of(j).model_dump() for j in jobs])

    @server.resource("enrich://jobs/{job_id}", name="job", mime_type="application/json", description="One job")
    async def job_resource(job_id: str) -> str:
        return dump(JobInfo.of(await _job_or_404(runtime, job_id)).model_dump())

    @server.resource(
        "enrich://jobs/{job_id}/results",
        name="job_results",
        mime_type="application/json",
        description="The first 1,000 result rows of a job (page further with get_job_results)",
    )
    async def job_results_resource(job_id: str) -> str:
        job = await _job_or_404(runtime, job_id)
        rows = await runtime.jobs.store.results(job.id, 0, 1000)
        return dump({"job_id": job.id, "status": job.status, "result_count": job.result_count, "rows": rows})

    @server.resource(
        "enrich://vendors",
        name="vendors",
        mime_type="application/json",
        description="Vendors, limits and health; data_directory: damaged job rows skipped and files moved aside",
    )
    async def vendors_resource() -> str:
        out = []
        for status in runtime.status.values():
            services = runtime.vendors.get(status.name)
            log = services.http.log if services else None
            out.append(
                {
                    "vendor": status.name,
                    "title": status.title,
                    "enabled": status.enabled,
                    "status": status.reason,
                    "base_url": status.base_url,
                    "rate_limit": status.rate,
                    "tools": status.tools,
                    "requests": log.requests if log else 0,
                    "retries": log.retries if log else 0,
                    "last_error": log.last_error if log else None,
                    "last_error_at": log.last_error_at if log else None,
                }
            )
        return dump({"vendors": out, "data_directory": data_directory_health(runtime)})

    @server.resource("enrich://spend", name="spend", mime_type="application/json", description="Spend and budget")
    async def spend_resource() -> str:
        return dump(await runtime.budget.report())

    async def notify(job: Job) -> None:
        uris = [job_uri(job.id), job_uri(job.id) + "/results", "enrich://jobs"]
        for uri in uris:
            await server.bus.publish(ResourceUpdated(uri=uri))
            for connection in list(runtime.subscribers.get(uri, ())):
                try:
                    await connection.send_resource_updated(uri)
                except Exception:
                    logger.debug("dropping a subscriber of %s", uri, exc_info=True)
                    runtime.subscribers[uri].discard(connection)

    runtime.jobs.listeners.append(notify)


def data_directory_health(runtime: Runtime) -> dict[str, Any]:
    """What is wrong in the data directory: unreadable job rows (skipped) and damaged files moved aside."""
    store = runtime.jobs.store
    damaged: dict[str, str] = getattr(store, "damaged", {})
    return {
        "path": str(runtime.home),
        "damaged_jobs": [{"job_id": job_id, "problem": why} for job_id, why in sorted(damaged.items())],
        "moved_aside": [str(p) for p in moved_aside(runtime.home)],
    }


async def _job_or_404(runtime: Runtime, job_id: str) -> Job:
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError

    job = await runtime.jobs.store.get(job_id)
    if job is None:
        raise ResourceNotFoundError(f"No job {job_id!r}")
    return job


def _register_subscriptions(server: EnrichServer, runtime: Runtime) -> None:
    """``resources/subscribe`` for 2025-era clients (2026-era clients use ``subscriptions/listen``)."""
    low = lowlevel(server)

    async def subscribe(ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams) -> types.EmptyResult:
        # The connection outlives this request's session wrapper; hold it weakly so a
        # client that goes away is forgotten without an unsubscribe.
        connection = connection_of(ctx.session)
        runtime.subscribers.setdefault(str(params.uri), weakref.WeakSet()).add(connection)
        return types.EmptyResult()

    async def unsubscribe(
        ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        runtime.subscribers.get(str(params.uri), weakref.WeakSet()).discard(connection_of(ctx.session))
        return types.EmptyResult()

    low.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
    low.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)


def prompts_dir() -> Path:
    packaged = Path(__file__).parent / "_prompts"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "prompts"


@dataclass(frozen=True)
class PromptFile:
    """A ``prompts/*.md`` file: an optional front-matter block, a ``# Title`` line, and the body.

    Front matter (between ``---`` lines) lists the tools the prompt uses and its arguments::

        tools: clean_leads, validate_emails
        arguments:
        - leads (required): the leads, as a CSV path or rows pasted as text
        - region: default phone region, e.g. "GB"

    ``{name}`` in the body is replaced by the argument's value; an optional argument left out reads
    "not given". Other braces are left alone, so JSON examples stay as written.
    """

    name: str
    title: str
    body: str
    tools: tuple[str, ...] = ()
    arguments: tuple[PromptArgument, ...] = ()

    @classmethod
    def parse(cls, name: str, text: str) -> PromptFile:
        tools: tuple[str, ...] = ()
        arguments: list[PromptArgument] = []
        if text.startswith("---\n"):
            front, _, text = text[4:].partition("\n---\n")
            for line in front.splitlines():
                stripped = line.strip()
                if stripped.startswith("tools:"):
                    tools = tuple(t.strip() for t in stripped.removeprefix("tools:").split(",") if t.strip())
                elif stripped.startswith("- "):
                    head, _, description = stripped[2:].partition(":")
                    arg_name, _, flag = head.partition(" ")
                    arguments.append(
                        PromptArgument(
                            name=arg_name.strip(),
                            description=description.strip() or None,
                            required=flag.strip() == "(required)",
                        )
                    )
                elif stripped and stripped != "arguments:":
                    raise ValueError(f"prompts/{name}.md: unexpected front-matter line {line!r}")
        title, _, body = text.strip().partition("\n")
        return cls(name, title.lstrip("# ").strip(), body.strip(), tools, tuple(arguments))

    def render(self, values: Mapping[str, str]) -> str:
        unknown = set(values) - {a.name for a in self.arguments}
        if unknown:
            # A protocol error (invalid params) that names the culprit; the SDK would mask a plain exception.
            raise MCPError(
                types.INVALID_PARAMS,
                f"Unknown argument(s) for prompt {self.name}: {', '.join(sorted(unknown))}; "
                f"it takes {', '.join(a.name for a in self.arguments) or 'none'}",
            )
        names = "|".join(re.escape(a.name) for a in self.arguments)
        if not names:
            return self.body

        def fill(match: re.Match[str]) -> str:
            value = (values.get(match.group(1)) or "").strip()
            return value or "not given"

        return re.sub(r"\{(" + names + r")\}", fill, self.body)

    def prompt(self) -> Prompt:
        def render(**values: str) -> str:
            return self.render(values)

        return Prompt(
            name=self.name,
            title=self.title,
            description=self.title,
            arguments=list(self.arguments),
            fn=render,
            context_kwarg=None,
        )


def load_prompts(directory: Path | None = None) -> list[PromptFile]:
    directory = directory or prompts_dir()
    if not directory.is_dir():
        return []
    return [PromptFile.parse(path.stem, path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.md"))]


def _register_prompts(server: EnrichServer) -> None:
    for prompt in load_prompts():
        server.add_prompt(prompt.prompt())

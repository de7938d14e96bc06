"""The thin layer between MCP and the services: tool registration, errors, spending, jobs.

Tools are plain typed async functions registered through :class:`Toolset`,
which sets all four annotation hints, applies read-only mode (on the tool's own
``read_only_hint``), turns every :class:`~enrich_mcp.errors.EnrichError` into
a tool error whose text a person can act on, and closes and leans each tool's
schemas (:func:`prepare_tool`, with :mod:`enrich_mcp.schema`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Generic, ParamSpec, Protocol, TypeVar

import anyio
import pydantic_core
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from enrich_mcp.budget import Budget, Charge
from enrich_mcp.budget import Confirm as ConfirmCallback
from enrich_mcp.cache import Cached, canonical
from enrich_mcp.errors import EnrichError, InputError, VendorResponseLost
from enrich_mcp.jobs import JobResult
from enrich_mcp.schema import (
    MAX_CALL_BYTES,
    MAX_ERROR_LINES,
    describe,
    describe_tool,
    invalid,
    lean_schema,
    open_objects,
)
from enrich_mcp.sdk import built_tool

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools import Tool

    from enrich_mcp.cache import ResultCache
    from enrich_mcp.jobs import JobManager
    from enrich_mcp.settings import Settings


class JobServices(Protocol):
    """What starting a job needs (a vendor's ``VendorServices`` has it all)."""

    @property
    def name(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def jobs(self) -> JobManager: ...
    @property
    def budget(self) -> Budget: ...
    @property
    def settings(self) -> Settings: ...


class PaidServices(Protocol):
    """What a cached paid call needs (a vendor's ``VendorServices`` has it all)."""

    @property
    def name(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def cache(self) -> ResultCache: ...
    @property
    def budget(self) -> Budget: ...


logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Argument types every vendor's tools share, so they read and validate the same everywhere.
Fresh = Annotated[bool, Field(description="Skip the cache")]
Confirm = Annotated[bool, Field(description="User approved the cost")]
WaitSeconds = Annotated[float | None, Field(ge=0, le=600, description="Default 4")]


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Report :class:`EnrichError` as a tool error (``is_error``) with its message and hint."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except EnrichError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


@dataclass
class Toolset:
    """Registers one toolset's tools on the server, honouring read-only mode.

    Every tool goes through :func:`enrich_mcp.schema.prepare_tool` here, the one place where argument
    models are closed and schemas made lean. An inactive toolset (dynamic toolsets) keeps its tools
    until :meth:`activate` adds them.
    """

    name: str
    server: MCPServer[Any]
    read_only_mode: bool = False
    active: bool = True
    registered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    _pending: list[Callable[[], None]] = field(default_factory=list)

    def tool(
        self,
        *,
        read_only: bool,
        destructive: bool = False,
        idempotent: bool,
        open_world: bool = True,
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        def decorator(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            if self.read_only_mode and not read_only:
                self.skipped.append(fn.__name__)
                return fn
            annotations = ToolAnnotations(
                read_only_hint=read_only,
                destructive_hint=destructive and not read_only,
                idempotent_hint=idempotent,
                open_world_hint=open_world,
            )
            install = functools.partial(self._install, fn, annotations=annotations)
            self.registered.append(fn.__name__)
            if self.active:
                install()
            else:
                self._pending.append(install)
            return fn

        return decorator

    def _install(self, fn: Callable[..., Awaitable[Any]], *, annotations: ToolAnnotations) -> None:
        # No `title`: clients show the name, and the ~2 KB that titles cost is better spent on schemas.
        name = fn.__name__
        self.server.add_tool(
            tool_errors(fn),
            name=name,
            description=describe_tool(fn.__doc__ or ""),
            annotations=annotations,
            structured_output=True,
        )
        # add_tool offers no handle on the Tool it built; close and lean its schemas in place.
        prepare_tool(built_tool(self.server, name))

    def activate(self) -> list[str]:
        """Add the tools of an inactive toolset to the server; returns the names added."""
        pending, self._pending = self._pending, []
        self.active = True
        for install in pending:
            install()
        return list(self.registered) if pending else []


class SpendApproval(BaseModel):
    """The elicitation form for approving a spend."""

    approve: bool = Field(description="Approve this spend?")


def confirmer(ctx: Context[Any, Any] | None) -> ConfirmCallback | None:
    """An elicitation-backed approval callback, or ``None`` when the client cannot be asked."""
    if ctx is None:
        return None
    try:
        caps = ctx.client_capabilities
        can_ask = caps is not None and caps.elicitation is not None and ctx.session.can_send_request
    except (ValueError, AttributeError):
        return None
    if not can_ask:
        return None

    async def ask(question: str) -> bool:
        result = await ctx.elicit(question, SpendApproval)
        return result.action == "accept" and bool(result.data.approve)

    return ask


def progress_reporter(ctx: Context[Any, Any] | None) -> Callable[[float, float | None, str | None], Awaitable[None]]:
    async def report(progress: float, total: float | None, message: str | None) -> None:
        if ctx is None:
            return
        try:
            await ctx.report_progress(progress, total, message)
        except Exception:  # progress is best effort; never fail the call over it
            logger.debug("progress notification failed", exc_info=True)

    return report


async def authorize(
    budget: Budget,
    ctx: Context[Any, Any] | None,
    *,
    vendor: str,
    tool: str,
    operation: str,
    units: float = 1,
    subject: str | None = None,
    confirm: bool = False,
) -> Charge:
    """Reserve the estimated cost (cap, approval) before a credit-spending call."""
    return await budget.authorize(
        vendor=vendor,
        tool=tool,
        operation=operation,
        units=units,
        subject=subject,
        confirmed=confirm,
        confirm=confirmer(ctx),
    )


async def paid_call(
    budget: Budget,
    ctx: Context[Any, Any] | None,
    call: Callable[[], Awaitable[R]],
    *,
    vendor: str,
    tool: str,
    operation: str,
    units: float = 1,
    subject: str | None = None,
    confirm: bool = False,
    actual_usd: Callable[[R], float | None] | None = None,
    grace_seconds: float = 60.0,
) -> R:
    """Run one synchronous credit-spending call under the budget, and record how it ended.

    The call is shielded from cancellation (the client gave up, the server is stopping) for up to
    ``grace_seconds``: a request that reached the vendor is paid for, so its answer is still read,
    cached by the caller and settled, instead of being abandoned as "unknown".
    """
    async with budget.spend(
        vendor=vendor,
        tool=tool,
        operation=operation,
        units=units,
        subject=subject,
        confirmed=confirm,
        confirm=confirmer(ctx),
    ) as charge:
        answered: list[R] = []
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + grace_seconds
            answered.append(await call())
            await charge.settle(actual_usd(answered[0]) if actual_usd else None)
        if not answered:
            raise VendorResponseLost(vendor, f"{tool} took longer than {grace_seconds:g} s; its answer was abandoned")
    return answered[0]


@dataclass(frozen=True)
class PaidAnswer(Generic[R]):
    """What :func:`cached_paid_call` answers."""

    value: R
    hit: bool
    """From the cache, or shared with an identical call in flight: nothing was spent for this call."""
    cost_usd: float
    """What this call spent: 0 on a hit, else the estimate for ``operation``."""
    cache: dict[str, Any]
    """The ``cache`` note tools add to their answer (:func:`cache_note`)."""


async def cached_paid_call(
    services: PaidServices,
    ctx: Context[Any, Any] | None,
    call: Callable[[], Awaitable[R]],
    *,
    tool: str,
    operation: str,
    request: Any,
    subject: str | None = None,
    confirm: bool = False,
    fresh: bool = False,
) -> PaidAnswer[R]:
    """The cached answer to ``request``, else ``call()`` once under :func:`paid_call` and cached.

    ``operation`` is the one name of the call: its price key (``<vendor>.<operation>``) and its cache
    entry (``<vendor>:<operation>:<request hash>``). Whoever asks the same operation with the same
    ``request`` shares the entry, so the vendor tools and ``enrich_person`` answer each other for free.
    Identical concurrent calls pay once (the cache's single flight); a hit records nothing in the ledger.
    """
    vendor = services.name

    async def fetch() -> R:
        return await paid_call(
            services.budget,
            ctx,
            call,
            vendor=vendor,
            tool=tool,
            operation=operation,
            subject=subject,
            confirm=confirm,
        )

    cached = await services.cache.get_or_fetch(vendor, operation, request, services.account, fetch, fresh=fresh)
    cost = 0.0 if cached.hit else services.budget.estimate(vendor, operation).estimated_usd
    return PaidAnswer(cached.value, cached.hit, cost, cache_note(cached))


def dedup_key(tool: str, request: Mapping[str, Any], account: str) -> str:
    """Identity of a job-starting request: the same tool, canonical arguments and account."""
    return hashlib.sha256(f"{tool}\0{canonical(request)}\0{account}".encode()).hexdigest()


async def start_job(
    services: JobServices,
    ctx: Context[Any, Any] | None,
    *,
    tool: str,
    request: Mapping[str, Any],
    wait_seconds: float | None,
    operation: str | None = None,
    kind: str | None = None,
    units: float = 1,
    subject: str | None = None,
    confirm: bool = False,
    fresh: bool = False,
    total: float | None = None,
) -> JobResult:
    """The one way a tool starts long work: find or authorize, start, wait, answer.

    The same request while its job is unfinished returns that job (no second charge); ``fresh``
    starts a new one. ``operation`` (with ``units``) reserves its estimated cost first. The answer
    comes once the vendor accepted the submit; a refusal is raised as a tool error.

    The job's ``kind`` (which handler drives it) is ``<vendor>.<operation>`` unless given. It is given
    where one handler serves several prices (a mode, a field, a template in the operation), for free
    jobs, and where the kind stored in existing job ledgers predates the price key: a stored job is
    resumed by its kind, so kinds are never renamed.
    """
    if kind is None:
        if operation is None:
            raise TypeError("start_job needs an operation or a kind")
        kind = f"{services.name}.{operation}"
    jobs = services.jobs
    wait = services.settings.default_wait_seconds if wait_seconds is None else wait_seconds
    key = None if fresh else dedup_key(tool, request, services.account)
    if key is not None and (existing := await jobs.find_open(key)) is not None:
        job = await jobs.wait(existing.id, wait, progress_reporter(ctx))
        return await jobs.outcome(job, reused=True)
    charge = None
    if operation is not None:
        charge = await authorize(
            services.budget,
            ctx,
            vendor=services.name,
            tool=tool,
            operation=operation,
            units=units,
            subject=subject,
            confirm=confirm,
        )
    job, created = await jobs.start(
        vendor=services.name, kind=kind, tool=tool, request=request, charge=charge, total=total, dedup_key=key
    )
    job = await jobs.wait(job.id, wait, progress_reporter(ctx))
    return await jobs.outcome(job, reused=not created)


def cache_note(cached: Cached) -> dict[str, Any]:
    """The ``cache`` field tools add to their answer."""
    note: dict[str, Any] = {"hit": cached.hit, "age_seconds": round(cached.age_seconds, 1)}
    if cached.shared:
        note["shared_with_identical_call"] = True
    return note


def require(condition: bool, message: str) -> None:
    """Reject impossible input before any vendor call."""
    if not condition:
        raise InputError(message)


# -- the one hook into the SDK's tools -----------------------------------------------------------------


class Arguments(FuncMetadata):
    """The SDK's argument handling, closed, size-capped, and with short errors."""

    tool: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)

    def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
        size = len(pydantic_core.to_json(arguments_to_validate, serialize_unknown=True))
        if size > MAX_CALL_BYTES:
            raise invalid(
                f"The arguments are {size:,} bytes; a call takes at most {MAX_CALL_BYTES:,}. Nothing was sent to "
                "a vendor: split the list over several calls, or pass a CSV file where the tool takes csv_path."
            )
        try:
            return super().validate_arguments(arguments_to_validate)
        except ValidationError as exc:
            details = [{k: v for k, v in e.items() if k not in ("msg", "url")} for e in exc.errors()[:MAX_ERROR_LINES]]
            raise invalid(describe(exc, self.input_schema), details) from None


def close_model(model: type[ArgModelBase]) -> type[ArgModelBase]:
    """The SDK's argument model with unknown arguments refused instead of dropped."""
    return type(model.__name__, (model,), {"model_config": ConfigDict(extra="forbid"), "__module__": __name__})


def prepare_tool(tool: Tool) -> None:
    """Close, lean and check a tool the SDK built from its function (see the module docstring)."""
    meta = tool.fn_metadata
    model = close_model(meta.arg_model)
    params = lean_schema(model.model_json_schema(by_alias=True))
    if problems := open_objects(params):
        raise TypeError(
            f"{tool.name}: input objects must be closed (use enrich_mcp.schema.Input): {', '.join(problems)}"
        )
    tool.parameters = params
    tool.description = describe_tool(tool.description)
    tool.fn_metadata = Arguments(
        arg_model=model,
        output_schema=lean_schema(meta.output_schema, output=True) if meta.output_schema else None,
        output_model=meta.output_model,
        wrap_output=meta.wrap_output,
        tool=tool.name,
        input_schema=params,
    )
    vars(tool).pop("output_schema", None)  # Tool caches it (cached_property); clients must see the lean one

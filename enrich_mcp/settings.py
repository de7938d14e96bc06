"""Configuration, read once from the environment (see DESIGN.md for the contract).

``Settings.from_env()`` is what the CLI uses. Tests build ``Settings(...)``
directly with explicit values; nothing reads the environment behind their back
except the ``ENRICH_MCP_*`` fields of this model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from enrich_mcp.vendors import discover_vendors


class VendorConfig(BaseModel):
    """One vendor's credentials and overrides (``<PREFIX>_API_KEY``, ``<PREFIX>_BASE_URL``, ``<PREFIX>_RATE_LIMIT``)."""

    api_key: SecretStr | None = None
    base_url: str | None = None
    rate_limit: str | None = Field(default=None, description='Client-side limit override such as "5000/hour".')


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip().lower() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    # hide_input_in_errors: a bad value may be a secret (a database URL with its password).
    model_config = SettingsConfigDict(env_prefix="ENRICH_MCP_", extra="ignore", frozen=True, hide_input_in_errors=True)

    home: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("enrich-mcp", appauthor=False)))
    sandbox: bool = False
    toolsets: Annotated[list[str] | None, NoDecode] = None
    read_only: bool = False
    dynamic_toolsets: bool = Field(
        default=False, description="Start with core plus list_toolsets/enable_toolset; vendors are enabled on demand."
    )
    budget_usd: float | None = Field(default=None, ge=0)
    confirm_above_usd: float | None = Field(default=None, ge=0)
    http_token: SecretStr | None = None
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://…: job ledger, results, spend ledger, cache, rate windows and sandbox state in "
        "PostgreSQL (team deployment); unset = SQLite and diskcache under the data directory.",
    )
    database_pool_size: int = Field(default=10, ge=1, description="Most PostgreSQL connections one process opens.")
    replica_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$",
        description="serve --http behind a proxy: this replica's name, put in front of the MCP session ids it "
        "issues (r1.…) so the proxy can send a session's requests to the replica that holds it.",
    )
    http_stateless: bool = Field(
        default=False,
        description="serve --http without MCP sessions (2025-era clients): any replica answers any request, "
        "but such clients get no resource subscriptions or elicitation. 2026-era clients are stateless anyway.",
    )
    files_dir: Path | None = Field(
        default=None,
        description="Folder whose files csv_path arguments may read, besides the client's MCP roots "
        "(over HTTP, the only one).",
    )

    prices: dict[str, float] = Field(
        default_factory=dict,
        description='USD per unit by "<vendor>.<operation>", e.g. {"lance.enrich.emails": 0.1}.',
    )
    cache_ttls: dict[str, float] = Field(
        default_factory=dict,
        description='TTL overrides in seconds by "<vendor>.<operation>"; a prefix covers its dotted variants.',
    )

    vendors: dict[str, VendorConfig] = Field(default_factory=dict)

    # Timing knobs: production defaults; tests shrink them instead of sleeping.
    # 4 s: agent frameworks time tool calls out at 5 s (openai-agents' default); past it a job handle comes back.
    default_wait_seconds: float = Field(default=4.0, ge=0)
    poll_interval_seconds: float | None = Field(
        default=None, gt=0, description="Override every vendor's advised poll interval (tests, demos)."
    )
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    lease_seconds: float = Field(
        default=30.0, gt=0, description="How long a process holds a job or a reservation without a heartbeat."
    )
    submit_grace_seconds: float = Field(
        default=10.0, ge=0, description="At shutdown, how long submits and paid calls in flight may finish."
    )
    http_max_retries: int = Field(default=4, ge=0)
    retry_base_delay_seconds: float = Field(default=0.5, ge=0)
    retry_max_delay_seconds: float = Field(default=20.0, ge=0)
    retry_after_cap_seconds: float = Field(default=60.0, ge=0)
    log_level: str = "INFO"
    transport: Literal["stdio", "http"] = Field(
        default="stdio", description="Set by `serve --http`: remote callers may read no file outside files_dir."
    )

    @field_validator("files_dir", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _check_database_url(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            text = text.strip()
            if not text:
                return None
            if not text.startswith(("postgresql://", "postgres://")):
                # Never echo the value: it may carry a password.
                raise ValueError("ENRICH_MCP_DATABASE_URL must start with postgresql://")
            return text
        return value

    @field_validator("toolsets", mode="before")
    @classmethod
    def _parse_toolsets(cls, value: Any) -> Any:
        return _split_commas(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``ENRICH_MCP_*`` plus every known vendor's ``<PREFIX>_*`` variables."""
        env = os.environ if environ is None else environ
        vendors: dict[str, VendorConfig] = {}
        for spec in discover_vendors():
            config = VendorConfig(
                api_key=SecretStr(key) if (key := env.get(f"{spec.env_prefix}_API_KEY", "").strip()) else None,
                base_url=env.get(f"{spec.env_prefix}_BASE_URL", "").strip() or None,
                rate_limit=env.get(f"{spec.env_prefix}_RATE_LIMIT", "").strip() or None,
            )
            vendors[spec.name] = config
        if environ is None:
            return cls(vendors=vendors)
        # The same reading as the process environment's (JSON for dicts, NoDecode kept), from this mapping.
        source = EnvSettingsSource(cls, case_sensitive=False, env_prefix="ENRICH_MCP_")
        source.env_vars = {key.lower(): value for key, value in env.items()}
        return cls.model_validate({**source(), "vendors": vendors})

    def vendor(self, name: str) -> VendorConfig:
        return self.vendors.get(name) or VendorConfig()

    def secrets(self) -> list[str]:
        """Every secret value, for redaction."""
        values = [c.api_key.get_secret_value() for c in self.vendors.values() if c.api_key]
        if self.http_token:
            values.append(self.http_token.get_secret_value())
        if self.database_url:
            values.append(self.database_url.get_secret_value())
            password = urlsplit(self.database_url.get_secret_value()).password
            if password:
                values.append(password)
        return values

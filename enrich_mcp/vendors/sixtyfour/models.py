"""Sixtyfour request and answer models, mirroring the vendor's field names."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EmailMode = Literal["PROFESSIONAL", "PERSONAL"]


class Lead(BaseModel):
    """What is known about a person; more fields give better answers. Extra keys are passed through."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    linkedin: str | None = Field(default=None, max_length=500)
    domain: str | None = Field(default=None, max_length=253)
    email: str | None = Field(default=None, max_length=320)

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class FoundEmail(BaseModel):
    address: str
    status: str = Field(description="Sixtyfour's verification word: OK or UNKNOWN")
    type: str = Field(description="COMPANY or PERSONAL")


class FindEmailResult(BaseModel):
    emails: list[FoundEmail]
    personal_email: str | None = None
    mode: EmailMode
    cost_usd: float
    cache: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict, description="Sixtyfour's answer as received")

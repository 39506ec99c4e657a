"""The base of every validated file's models: unknown keys refused, values frozen."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

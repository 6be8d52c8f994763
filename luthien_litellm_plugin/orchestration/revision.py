"""What a policy made of a request or a complete response, judged by value, not by identity.

A policy may edit what it is given in place and return the same object. So what it was given is
dumped *before* it runs (the record's "original", and what a change is measured against), and
what it returned is dumped after, whatever object it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from luthien_litellm_plugin.types import JSONObject

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Revision(Generic[M]):
    """The object a policy returned, with the fields of what it was given and of what it returned."""

    final: M
    original_fields: JSONObject
    """Dumped before the policy ran."""
    final_fields: JSONObject
    """Dumped after it ran; `original_fields` itself when they are equal."""

    @property
    def changed(self) -> bool:
        return self.final_fields is not self.original_fields


def request_fields(request: BaseModel) -> JSONObject:
    """A request's fields as recorded and compared (unset optional fields left out)."""
    return _object(request.model_dump(exclude_none=True))


def response_fields(response: BaseModel) -> JSONObject:
    """A complete response's fields as recorded and compared."""
    return _object(response.model_dump())


def response_text(fields: JSONObject) -> str:
    """The text of a complete response's first choice, from its fields ("" when it has none)."""
    choices = fields.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def revision(final: M, original_fields: JSONObject, final_fields: JSONObject) -> Revision[M]:
    """`final` with both dumps; equal dumps become one object (recorded, scrubbed and compared once)."""
    return Revision(final, original_fields, original_fields if final_fields == original_fields else final_fields)


def _object(value: object) -> JSONObject:
    if not isinstance(value, dict):
        raise TypeError(f"a model dumps to a dict, not {type(value).__name__}")
    return value

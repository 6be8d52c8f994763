"""Removes secrets from anything about to be recorded, and bounds how deep it nests.

Three rules, applied at any depth (request bodies, metadata, responses):

- **Secret-named keys.** A key containing `key`, `token`, `secret`, `password`, `passwd`,
  `authorization`, `cookie` or `credential` (any case) has every *string* in its value replaced
  by `[redacted]`, however deep. Numbers, booleans and null stay: token *counts* (`max_tokens`,
  `prompt_tokens`, `cache_read_input_tokens`, `completion_tokens_details: {...}`) are kept.
- **Header maps.** Under a key named `headers` or ending in `_headers` / `-headers`
  (`extra_headers`, …), every header's value is redacted except `ALLOWED_HEADERS`.
- **Secret-looking values.** Anywhere in any string, what looks like a provider key or a bearer
  token (`sk-` or `Bearer ` followed by 16 or more key characters: OpenAI, Anthropic `sk-ant-…`,
  LiteLLM virtual keys, bearer tokens) is replaced by `[redacted]`.

The walk is iterative (no recursion limit). A value nested deeper than `MAX_DEPTH` is recorded
as its JSON text (a string, secrets already removed), so every later step — JSON encoders,
Postgres `jsonb`, span attributes — sees a bounded depth.
"""

from __future__ import annotations

import json
import re

from luthien_litellm_plugin.types import JSONValue

REDACTED = "[redacted]"
MAX_DEPTH = 100
"""Containers nested deeper than this (counted from the recorded payload) are kept as JSON text."""
ALLOWED_HEADERS = frozenset(
    {"accept", "accept-encoding", "content-type", "user-agent", "anthropic-version", "anthropic-beta", "openai-beta"}
)
"""Header values recorded as sent; every other header in a header map is redacted."""

_SECRET_KEY = re.compile(r"key|token|secret|passw(?:or)?d|authorization|cookie|credential", re.IGNORECASE)
_SECRET_VALUE = re.compile(
    r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}|\b[Bb]earer\s+[A-Za-z0-9\-._~+/]{16,}=*|\bBEARER\s+\S{16,}"
)


class _Mode:
    """How the strings under a key are treated. Three instances, compared by identity; not an
    `Enum`, whose hash is a Python-level method and the walk hashes a mode per container."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"_Mode.{self.name.upper()}"

    PLAIN: _Mode
    """Secret-looking substrings are replaced; keys decide for their values."""
    SECRET: _Mode
    """Under a secret-named key: every string is redacted."""
    HEADERS: _Mode
    """A header map: each key is a header name."""


_Mode.PLAIN, _Mode.SECRET, _Mode.HEADERS = _Mode("plain"), _Mode("secret"), _Mode("headers")


def scrub_secrets(value: JSONValue) -> JSONValue:
    """A copy of `value` without secrets, nested at most `MAX_DEPTH` deep (see the module doc)."""
    return _scrub(value, _Mode.PLAIN, MAX_DEPTH)


def redact_secret_values(text: str) -> str:
    """`text` with what looks like a provider key or bearer token replaced by `[redacted]`."""
    # Substring tests first: each is one fast scan, the regex is much slower on long prompts.
    if "sk-" in text or "earer" in text or "EARER" in text:
        return _SECRET_VALUE.sub(REDACTED, text)
    return text


Container = dict[str, JSONValue] | list[JSONValue]


def _scrub(value: JSONValue, mode: _Mode, max_depth: int | None) -> JSONValue:
    """The scrubbed copy of `value`; containers at `max_depth` become JSON text (None: no limit)."""
    if not isinstance(value, dict | list):
        return _scrub_scalar(value, mode)
    root = _empty_like(value)
    # (container to copy, its copy being filled, depth of the container, mode of its values)
    pending: list[tuple[Container, Container, int, _Mode]] = [(value, root, 0, mode)]
    # A container met twice (original and final request are often the same object) is copied once.
    copies: dict[tuple[int, int, _Mode], JSONValue] = {}
    secret, plain, key_modes = _Mode.SECRET, _Mode.PLAIN, _KEY_MODES
    while pending:
        source, target, depth, source_mode = pending.pop()
        depth += 1  # of the children
        cut = max_depth is not None and depth >= max_depth
        in_dict = isinstance(source, dict)
        slots = source.items() if isinstance(source, dict) else enumerate(source)
        for slot, child in slots:
            if source_mode is secret or not in_dict or isinstance(slot, int):
                child_mode = source_mode
            elif source_mode is plain:  # the common case, looked up inline
                child_mode = key_modes.get(slot) or _child_mode(plain, slot)
            else:
                child_mode = _child_mode(source_mode, slot)
            copy: JSONValue
            if type(child) is str:  # most values: handled inline, the hot path
                if child_mode is not plain:
                    copy = REDACTED  # under a secret-named key, or a header map that is a bare string
                elif "sk-" in child or "earer" in child or "EARER" in child:  # as in redact_secret_values
                    copy = _SECRET_VALUE.sub(REDACTED, child)
                else:
                    copy = child
            elif isinstance(child, dict | list):
                if child_mode is _Mode.HEADERS and isinstance(child, list):
                    child_mode = secret  # a header map in another shape: nothing in it is kept
                seen = (id(child), depth, child_mode)
                known = copies.get(seen)
                if known is not None:
                    copy = known
                elif cut:
                    copy = copies[seen] = _json_text(_scrub(child, child_mode, None))
                else:
                    copy = copies[seen] = _empty_like(child)
                    pending.append((child, copy, depth, child_mode))
            elif isinstance(child, str):  # a str subclass
                copy = redact_secret_values(child) if child_mode is plain else REDACTED
            else:
                copy = child
            if in_dict:
                target[slot] = copy  # type: ignore[index]
            else:
                target.append(copy)  # type: ignore[union-attr]
    return root


def _empty_like(container: Container) -> Container:
    return {} if isinstance(container, dict) else []


def _scrub_scalar(value: JSONValue, mode: _Mode) -> JSONValue:
    if isinstance(value, str):
        return redact_secret_values(value) if mode is _Mode.PLAIN else REDACTED
    return value


def _child_mode(mode: _Mode, key: str) -> _Mode:
    """The mode of the value under `key` in a dict whose values are in `mode` (not SECRET)."""
    if mode is _Mode.HEADERS:
        return _Mode.PLAIN if key.lower() in ALLOWED_HEADERS else _Mode.SECRET
    found = _KEY_MODES.get(key)
    if found is None:
        found = _key_mode(key)
        if len(_KEY_MODES) < _KEY_MODES_CACHED:
            _KEY_MODES[key] = found
    return found


_KEY_MODES: dict[str, _Mode] = {}
_KEY_MODES_CACHED = 4096
"""Keys seen so far and their mode (bounded: clients choose keys)."""


def _key_mode(key: str) -> _Mode:
    if _SECRET_KEY.search(key):
        return _Mode.SECRET
    lowered = key.lower()
    if lowered == "headers" or lowered.endswith(("_headers", "-headers")):
        return _Mode.HEADERS
    return _Mode.PLAIN


class _Token(str):
    """Ready-made JSON text (punctuation, an encoded key) among the values `_json_text` encodes."""


def _json_text(value: JSONValue) -> str:
    """Compact JSON of `value`, however deep: built with an explicit stack, not recursion."""
    out: list[str] = []
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _Token):
            out.append(item)
        elif isinstance(item, dict):
            parts: list[object] = [_Token("{")]
            for position, (key, child) in enumerate(item.items()):
                parts.append(_Token(("," if position else "") + json.dumps(str(key), ensure_ascii=False) + ":"))
                parts.append(child)
            parts.append(_Token("}"))
            pending.extend(reversed(parts))
        elif isinstance(item, list):
            parts = [_Token("[")]
            for position, child in enumerate(item):
                if position:
                    parts.append(_Token(","))
                parts.append(child)
            parts.append(_Token("]"))
            pending.extend(reversed(parts))
        else:
            out.append(json.dumps(item, ensure_ascii=False, default=str))
    return "".join(out)

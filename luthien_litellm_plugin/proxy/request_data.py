"""LiteLLM's per-request `data` dict: what the client asked for, and where our state goes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from luthien_litellm_plugin.orchestration.revision import Revision
from luthien_litellm_plugin.types import RequestMessage

Api = Literal["chat", "messages", "responses", "cursor", "unpoliced"]
"""How a request's responses are handled: chat chunks, Anthropic SSE, OpenAI Responses events, or
passed untouched (a route an operator allowed without a policy). `cursor`: LiteLLM's Cursor route
(`/cursor/chat/completions`), Responses-shaped requests answered in chat-completions format."""
CURSOR_ROUTE = "/cursor/chat/completions"
METADATA_KEYS = ("metadata", "litellm_metadata")
TRANSACTION_KEY = "luthien_transaction_id"
API_KEY = "luthien_api"
POLICY_KEY = "luthien_policy"
_INTERNAL_BODY_KEYS = frozenset({"metadata", "litellm_metadata", "litellm_call_id", "secret_fields"})


class MalformedRequest(ValueError):
    """The request has no policeable shape (a missing or mistyped `model` / `messages`)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


def client_request(data: dict[str, object], api: Api = "chat") -> RequestMessage:
    """The request as the client sent it (from `proxy_server_request.body`), with the routed model.
    A Responses request's `input` becomes `messages` (a string input: one user message).

    Raises `MalformedRequest` when `messages` is not a list of objects or `model` not a string
    (an empty, unparsable or invalid-UTF-8 body reaches here as `{}`). Only that shape is checked:
    the body came from a JSON parser, so its values are JSON at any depth; walking them to check
    again would refuse deep documents LiteLLM itself serves.
    """
    server_request = data.get("proxy_server_request")
    body = server_request.get("body") if isinstance(server_request, dict) else None
    fields: dict[str, object] = {
        key: value for key, value in (body if isinstance(body, dict) else {}).items() if key not in _INTERNAL_BODY_KEYS
    }
    fields.setdefault("model", data.get("model"))
    if api in ("responses", "cursor"):
        fields["messages"] = _input_messages(fields.pop("input", data.get("input")))
    fields.setdefault("messages", data.get("messages"))
    messages, model = fields["messages"], fields["model"]
    if messages is None:
        raise MalformedRequest("messages", "Missing required parameter: 'messages'.")
    if not isinstance(messages, list) or not all(isinstance(message, dict) for message in messages):
        raise MalformedRequest("messages", "'messages' must be a list of message objects.")
    if model is None:
        raise MalformedRequest("model", "Missing required parameter: 'model'.")
    if not isinstance(model, str):
        raise MalformedRequest("model", "'model' must be a string.")
    return RequestMessage.model_construct(**fields)  # type: ignore[arg-type]


def is_cursor_route(data: dict[str, object]) -> bool:
    """Whether the request came through LiteLLM's Cursor route (its Responses-shaped requests reach the
    hooks as `aresponses`, but their streams as chat-completions chunks)."""
    server_request = data.get("proxy_server_request")
    url = server_request.get("url") if isinstance(server_request, dict) else None
    return isinstance(url, str) and urlsplit(url).path.endswith(CURSOR_ROUTE)


def _input_messages(value: object) -> list[object]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


def apply_request(data: dict[str, object], revised: Revision[RequestMessage], api: Api = "chat") -> None:
    """Write into `data` (in place: LiteLLM sends `data` upstream) the fields the policy changed,
    whether it returned a new request or edited the one it was given."""
    if not revised.changed:
        return
    before, after = revised.original_fields, revised.final_fields
    rename = {"messages": "input"} if api in ("responses", "cursor") else {}
    for key, value in after.items():
        if before.get(key) != value:
            data[rename.get(key, key)] = value
    for key in before.keys() - after.keys():
        data.pop(rename.get(key, key), None)


@dataclass(frozen=True)
class Marks:
    transaction_id: str
    policy: str
    api: Api


def clear_marks(data: dict[str, object]) -> None:
    """Remove our keys from LiteLLM's metadata: a client-sent `metadata` is merged into these
    dicts, and must never name a transaction."""
    for key in METADATA_KEYS:
        metadata = data.get(key)
        if isinstance(metadata, dict):
            metadata.pop(TRANSACTION_KEY, None)
            metadata.pop(POLICY_KEY, None)
            metadata.pop(API_KEY, None)


def mark(data: dict[str, object], transaction_id: str, policy: str, api: Api = "chat") -> None:
    """Record our transaction id, policy and API in LiteLLM's metadata (never sent upstream).

    LiteLLM keeps its metadata in `metadata` for chat and in `litellm_metadata` for
    `/v1/messages` and other newer routes (where `metadata` may be a provider field sent
    upstream). Always overwrites, and clears our keys from the other dict.
    """
    clear_marks(data)
    newer_route = api in ("messages", "responses") or isinstance(data.get("litellm_metadata"), dict)
    metadata_key = "litellm_metadata" if newer_route else "metadata"
    metadata = data.get(metadata_key)
    if not isinstance(metadata, dict):
        metadata = {}
        data[metadata_key] = metadata
    metadata[TRANSACTION_KEY] = transaction_id
    metadata[POLICY_KEY] = policy
    metadata[API_KEY] = api


def marks(data: dict[str, object]) -> Marks | None:
    """What `mark` recorded, if anything."""
    for key in METADATA_KEYS:
        metadata = data.get(key)
        if not isinstance(metadata, dict):
            continue
        transaction_id, policy, api = metadata.get(TRANSACTION_KEY), metadata.get(POLICY_KEY), metadata.get(API_KEY)
        if isinstance(transaction_id, str) and isinstance(policy, str):
            return Marks(transaction_id, policy, _api(api))
    return None


def _api(value: object) -> Api:
    if value in ("messages", "responses", "cursor", "unpoliced"):
        return value
    return "chat"

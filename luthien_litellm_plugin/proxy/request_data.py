"""LiteLLM's per-request `data` dict: what the client asked for, and where our state goes."""

from __future__ import annotations

from luthien_litellm_plugin.types import RequestMessage

TRANSACTION_KEY = "luthien_transaction_id"
POLICY_KEY = "luthien_policy"
_INTERNAL_BODY_KEYS = frozenset({"metadata", "litellm_metadata", "litellm_call_id", "secret_fields"})


def client_request(data: dict[str, object]) -> RequestMessage:
    """The request as the client sent it (from `proxy_server_request.body`), with the routed model."""
    server_request = data.get("proxy_server_request")
    body = server_request.get("body") if isinstance(server_request, dict) else None
    fields: dict[str, object] = {key: value for key, value in (body or {}).items() if key not in _INTERNAL_BODY_KEYS}
    fields.setdefault("model", data.get("model"))
    fields.setdefault("messages", data.get("messages"))
    return RequestMessage.model_validate(fields)


def apply_request(data: dict[str, object], original: RequestMessage, final: RequestMessage) -> None:
    """Write into `data` (in place: LiteLLM sends `data` upstream) what the policy changed."""
    before = original.model_dump(exclude_none=True)
    after = final.model_dump(exclude_none=True)
    for key, value in after.items():
        if before.get(key) != value:
            data[key] = value
    for key in before.keys() - after.keys():
        data.pop(key, None)


def mark(data: dict[str, object], transaction_id: str, policy: str) -> None:
    """Record our transaction id and policy in LiteLLM's metadata (never sent upstream).

    Always overwrites: a client-sent `metadata` is merged into the same dict.
    """
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
        data["metadata"] = metadata
    metadata[TRANSACTION_KEY] = transaction_id
    metadata[POLICY_KEY] = policy


def marks(data: dict[str, object]) -> tuple[str, str] | None:
    """(transaction id, policy name) set by `mark`, if any."""
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return None
    transaction_id, policy = metadata.get(TRANSACTION_KEY), metadata.get(POLICY_KEY)
    if isinstance(transaction_id, str) and isinstance(policy, str):
        return transaction_id, policy
    return None

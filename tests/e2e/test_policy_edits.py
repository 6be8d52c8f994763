"""A policy that edits the request and the response in place (and returns the same objects) is obeyed
on every API, through the real proxy and the official SDKs, and the record keeps what was sent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e import messages_proxy as messages
from tests.e2e import responses_proxy as responses
from tests.e2e.messages_proxy import MessagesProxy, new_marker, recorded_text, running_messages_proxy
from tests.fakes.scenarios import TEXT, last_user_text
from tests.fakes.server import FakeUpstream

pytestmark = pytest.mark.e2e

POLICIES: dict[str, dict[str, object]] = {"edits": {"class": "tests.e2e.policies:EditsInPlace"}}


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessagesProxy]:
    with FakeUpstream.running() as fake, running_messages_proxy(tmp_path_factory.mktemp("edits"), fake, POLICIES) as p:
        yield p


def ask_chat(proxy: MessagesProxy, model: str, text: str) -> tuple[str, str]:
    with responses.sdk_client(proxy) as (client, _):
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}]
        )
    return raw.parse().choices[0].message.content or "", raw.headers["x-luthien-transaction-id"]


def ask_messages(proxy: MessagesProxy, model: str, text: str) -> tuple[str, str]:
    with messages.sdk_client(proxy) as (client, _):
        raw = client.messages.with_raw_response.create(
            model=model, max_tokens=256, messages=[{"role": "user", "content": text}]
        )
    said = "".join(block.text for block in raw.parse().content if block.type == "text")
    return said, raw.headers["x-luthien-transaction-id"]


def ask_responses(proxy: MessagesProxy, model: str, text: str) -> tuple[str, str]:
    with responses.sdk_client(proxy) as (client, _):
        raw = client.responses.with_raw_response.create(model=model, input=[{"role": "user", "content": text}])
    return raw.parse().output_text, raw.headers["x-luthien-transaction-id"]


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
@pytest.mark.parametrize("ask", [ask_chat, ask_messages, ask_responses])
def test_in_place_edits_reach_upstream_and_client_and_the_record_keeps_both_versions(
    proxy: MessagesProxy, ask: object, backend: str
) -> None:
    marker = new_marker()
    sent = f"hi scenario:text {marker}"
    assert callable(ask)
    said, transaction_id = ask(proxy, f"{backend}-edits", sent)
    assert said == TEXT.upper(), "the client gets the response as the policy edited it"
    assert last_user_text(proxy.upstream_request(marker).body) == f"{sent} (edited)", "upstream gets the edit"
    row = proxy.transaction_row(transaction_id)
    assert row["status"] == "success"
    original_request, final_request = (json.loads(str(row[key])) for key in ("original_request", "final_request"))
    assert original_request["messages"] == [{"role": "user", "content": sent}]
    assert final_request["messages"] == [{"role": "user", "content": f"{sent} (edited)"}]
    original_response, final_response = (json.loads(str(row[key])) for key in ("original_response", "final_response"))
    assert (recorded_text(original_response), recorded_text(final_response)) == (TEXT, TEXT.upper())

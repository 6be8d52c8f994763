"""Test helpers for OpenAI Responses streams: upstream events from the fake, as LiteLLM hands them to
the hook; serving them; reading them as the openai SDK does."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, cast

from litellm.llms.openai.responses.transformation import OpenAIResponsesAPIConfig
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.streaming import responses_events as ev
from luthien_litellm_plugin.streaming.anthropic_sse import SSEParser
from luthien_litellm_plugin.streaming.responses_events import Event, kind_of, plain
from luthien_litellm_plugin.streaming.responses_validator import validate_responses_stream
from luthien_litellm_plugin.types import JSONObject
from tests.fakes.common import Ids
from tests.fakes.responses_upstream import responses_stream_events
from tests.fakes.scenarios import build_scenario, parse_options
from tests.streams import SPAN, iterate, request

MODEL = "gpt-test"


def upstream_bytes(scenario: str, seed: str = "seed") -> list[bytes]:
    """The fake Responses upstream's SSE events for `scenario` (e.g. "thinking", "tool_only chunks:3")."""
    body = {"model": MODEL, "input": f"scenario:{scenario}"}
    return responses_stream_events(build_scenario(parse_options(body), "responses"), Ids(seed), MODEL, body)


def as_litellm_events(raw: Sequence[bytes]) -> list[Event]:
    """SSE events parsed into LiteLLM's event objects, the way the proxy hands them to the hook."""
    parser = SSEParser()
    events = parser.feed(b"".join(raw))
    assert parser.pending == b""
    config = OpenAIResponsesAPIConfig()
    parsed = [config.transform_streaming_response(MODEL, e.json(), None) for e in events]  # type: ignore[arg-type]
    assert all(isinstance(e, Event) for e in parsed)
    return cast(list[Event], parsed)


def upstream_events(scenario: str, seed: str = "seed") -> list[Event]:
    return as_litellm_events(upstream_bytes(scenario, seed))


def interleaved(events: Sequence[Event]) -> list[Event]:
    """The events as LiteLLM's own translation (an Anthropic-type backend) orders them: the message item
    is closed only after the items that follow it, just before `response.completed`; renumbered."""
    message_index = next(
        int(e.get("output_index"))  # type: ignore[call-overload]
        for e in events
        if kind_of(e) == ev.ITEM_ADDED and plain(e.get("item"))["type"] == "message"  # type: ignore[index,call-overload]
    )
    closing = {ev.TEXT_DONE, ev.PART_DONE, ev.ITEM_DONE}
    late = [e for e in events if kind_of(e) in closing and e.get("output_index") == message_index]
    rest = [e for e in events if not any(e is x for x in late)]
    ordered = [*rest[:-1], *late, rest[-1]]
    return [e.model_copy(update={"sequence_number": i}) for i, e in enumerate(ordered)]


async def serve_responses(
    orchestrator: PolicyOrchestrator, events: Sequence[Event], transaction_id: str = "t"
) -> list[JSONObject]:
    """Run the events through request + `stream_responses_response`, check the wire rules, return the
    served events as the client receives them (JSON)."""
    final = await orchestrator.process_request(request(), transaction_id, SPAN)
    served = orchestrator.stream_responses_response(iterate(events), transaction_id, SPAN, final)
    out = [client_view(event) async for event in served]
    assert validate_responses_stream(out) == []
    return out


def client_view(event: object) -> JSONObject:
    """An event as the client's JSON (LiteLLM serializes with `exclude_none` and `exclude_unset`)."""
    data = plain(event)
    assert isinstance(data, dict)
    return data


def accumulate(served: Sequence[JSONObject]) -> Response:
    """The response the openai SDK's own stream accumulator (`responses.stream()`) builds from the events."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for data in served:
        event = cast(ResponseStreamEvent, construct_type(type_=ResponseStreamEvent, value=json.loads(json.dumps(data))))
        state.handle_event(event)
    completed = state._completed_response
    assert completed is not None, "no response.completed"
    return completed


def as_response(data: object) -> Response:
    """A `Response` from its JSON, built the way the openai SDK builds it (constructed, not validated)."""
    return cast(Response, construct_type(type_=Response, value=data))


def text_of(response: Response) -> str:
    return response.output_text


def function_calls(response: Response) -> list[tuple[str, dict[str, object]]]:
    return [(item.name, json.loads(item.arguments)) for item in response.output if item.type == "function_call"]


def without_built_ids(served: list[JSONObject], upstream: Sequence[Event]) -> str:
    """The served events as JSON, the ids the egress generated (for items it built) numbered in
    order of appearance: two runs of one policy differ in those alone."""
    upstream_ids = set(_ids([client_view(event) for event in upstream]))
    text = json.dumps(served)
    for number, built in enumerate(dict.fromkeys(i for i in _ids(served) if i not in upstream_ids)):
        text = text.replace(built, f"built-{number}")
    return text


def _ids(value: object) -> Iterator[str]:
    """Every item id in a JSON value (`id`, `item_id`)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("id", "item_id") and isinstance(item, str):
                yield item
            else:
                yield from _ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ids(item)

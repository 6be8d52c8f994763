"""The checks behind the plan's six e2e files, shared by both backends."""

from __future__ import annotations

import json

import openai

from tests.e2e.conftest import Proxy, completed

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}
SAY_HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris? Use the tool. scenario:tool_calls"}]


def client(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=proxy.master_key, max_retries=0)


def recorded_success(proxy: Proxy, transaction_id: str) -> dict[str, object]:
    done = completed(proxy.events(transaction_id))
    assert done["status"] == "success"
    return done


def streaming_uppercase(proxy: Proxy, backend: str) -> None:
    raw = client(proxy).chat.completions.with_raw_response.create(
        model=f"{backend}-uppercase", messages=SAY_HELLO, stream=True
    )
    content = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
    assert content.strip() and content == content.upper()
    assert any(word in content for word in ("HELLO", "HI"))
    recorded_success(proxy, raw.headers["x-luthien-transaction-id"])


def non_streaming_uppercase(proxy: Proxy, backend: str) -> None:
    raw = client(proxy).chat.completions.with_raw_response.create(model=f"{backend}-uppercase", messages=SAY_HELLO)
    content = raw.parse().choices[0].message.content or ""
    assert content.strip() and content == content.upper()
    recorded_success(proxy, raw.headers["x-luthien-transaction-id"])


def tool_calls_preserved(proxy: Proxy, backend: str) -> None:
    """Tool calls pass through intact, streaming (the SDK's accumulating helper) and not."""
    sdk = client(proxy)
    with sdk.chat.completions.stream(
        model=f"{backend}-passthrough",
        messages=ASK_WEATHER,
        tools=[WEATHER_TOOL],
        tool_choice="required",  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert calls and calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert "paris" in json.loads(calls[0].function.arguments)["location"].lower()  # type: ignore[union-attr]
    response = sdk.chat.completions.create(
        model=f"{backend}-passthrough",
        messages=ASK_WEATHER,
        tools=[WEATHER_TOOL],
        tool_choice="required",  # type: ignore[list-item]
    )
    calls = response.choices[0].message.tool_calls or []
    assert calls and calls[0].function.name == "get_weather"  # type: ignore[union-attr]

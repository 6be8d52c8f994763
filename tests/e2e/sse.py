"""Reading a chat-completions SSE response the way a raw HTTP client sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx
from litellm.types.utils import ModelResponseStream


@dataclass
class ServedStream:
    status_code: int
    headers: httpx.Headers
    chunks: list[ModelResponseStream] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)
    done: bool = False
    body: str = ""


def stream_chat(client: httpx.Client, base_url: str, headers: dict[str, str], body: dict[str, object]) -> ServedStream:
    with client.stream(
        "POST", f"{base_url}/v1/chat/completions", headers=headers, json={**body, "stream": True}
    ) as response:
        served = ServedStream(response.status_code, response.headers)
        if response.status_code != 200:
            served.body = response.read().decode()
            return served
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: ") :]
            if data == "[DONE]":
                served.done = True
                continue
            frame = json.loads(data)
            if "error" in frame:
                served.errors.append(frame["error"])
            else:
                served.chunks.append(ModelResponseStream(**frame))
    return served

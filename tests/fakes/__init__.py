"""Fake upstream providers speaking the real OpenAI and Anthropic wire formats.

`FakeUpstream.running()` serves both on 127.0.0.1; `scenarios` says how a request picks what
it gets. (`tests.fakes.upstream` is the older single-module fake the e2e tests still use.)
"""

from tests.fakes.common import CREATED, RecordedRequest
from tests.fakes.scenarios import (
    BASH,
    LEAD_IN,
    REDACTED_THINKING_DATA,
    TEXT,
    THINKING,
    THINKING_SIGNATURE,
    TIME,
    WEATHER,
    Options,
    Scenario,
    ToolCall,
    build_scenario,
    text_chunks,
)
from tests.fakes.server import FakeUpstream, free_port

__all__ = [
    "BASH",
    "CREATED",
    "LEAD_IN",
    "REDACTED_THINKING_DATA",
    "TEXT",
    "THINKING",
    "THINKING_SIGNATURE",
    "TIME",
    "WEATHER",
    "FakeUpstream",
    "Options",
    "RecordedRequest",
    "Scenario",
    "ToolCall",
    "build_scenario",
    "free_port",
    "text_chunks",
]

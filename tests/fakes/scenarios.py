"""Scenarios shared by the fake OpenAI (chat and Responses) and Anthropic upstreams, chosen by markers in
the request.

The last user message selects what the fake answers: `scenario:<name>` (default `text`), plus
optional knobs `chunks:<n>` (text chunks, default 10), `chunk_delay_ms:<n>` (pause between
writes), `writes:aligned|coalesced` (one SSE event per TCP write, or Anthropic-like merged and
split writes), `echo:<token>` (appends ` [<token>]` to the text, to tell concurrent requests
apart) and `seed:<token>` (the ids derive from the token alone: the same answer, byte for byte,
however often it is asked). When the last user message names no scenario (e.g. it only carries
tool results), the latest one that does counts. A Responses request's user messages are in its
`input` (a string, or items). Everything here is provider-neutral; the formatters render it.

`tag:<token>` adds `"tag": "<token>"` to the arguments of every tool call (so that identical
scenarios still make distinct calls, e.g. for an LLM judge with a cache).

`scenario:tool_loop tool:<name> token:<token>` scripts a real agent's tool loop: while the
conversation does not end in tool results, the answer is a call of tool `<name>` with
`{"command": "echo <token> | tee tool-ran-<token>.txt"}` (with `danger:<dir>`, first a call
with `{"command": "rm -rf <dir>"}`, then that one); once it does, the answer quotes them:
`The command printed: <result>`. When the request enables extended thinking, each turn starts
with a signed thinking block (the Anthropic fake refuses a request whose thinking blocks did not
come back intact, as the real API does).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

TEXT = "Hello from the fake upstream. The quick brown fox jumps over the lazy dog."
"""The `text` scenario's full text at the default chunk count (any `chunks:<n>` up to 14 keeps it)."""
TEXT_WORDS = TEXT.split(" ")
DEFAULT_CHUNKS = 10
LEAD_IN_CHUNKS = ("Let me", " check that", " for you.")
LEAD_IN = "".join(LEAD_IN_CHUNKS)
"""The sentence the tool-call scenarios say before their calls."""
THINKING_CHUNKS = ("The user wants", " a greeting.", " I will answer", " with the usual", " sentence.")
THINKING = "".join(THINKING_CHUNKS)
THINKING_SIGNATURE = "EqQBCkYIBxgCKkBfakeSignatureForTestsOnlyZmFrZS11cHN0cmVhbS10aGlua2luZw=="
REDACTED_THINKING_DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfakeRedactedData"
DISCONNECT_AFTER = 3
"""Text chunks sent before `disconnect`, `error_event` (and half that before `hang`) cut the stream."""
PROMPT_TOKENS = 42
CACHE_CREATION_INPUT_TOKENS = 128
CACHE_READ_INPUT_TOKENS = 1024

Failure = Literal["error_500", "disconnect", "hang", "error_event", "failed"]
Stop = Literal["stop", "tool_calls", "function_call", "max_tokens"]
CallShape = Literal["function", "custom", "function_call"]
Writes = Literal["aligned", "coalesced"]
_FRAGMENT_SIZES = (2, 5, 3, 7, 1, 4)
_CUT_FAILURES: dict[str, Failure] = {
    "disconnect": "disconnect",
    "error_event": "error_event",
    "error_500": "error_500",
    "failed": "failed",
}
Provider = Literal["openai", "anthropic", "responses"]


@dataclass(frozen=True)
class ToolCall:
    """A tool call with its exact arguments text, streamed in irregular small fragments.

    `shape`: a function tool call (JSON arguments; both providers), an OpenAI custom (free-form)
    tool call whose `arguments` is its `input` text, or the legacy OpenAI `function_call`.
    """

    name: str
    arguments: str
    shape: CallShape = "function"

    @property
    def fragments(self) -> list[str]:
        """The arguments split in pieces of 2, 5, 3, 7, 1, 4, 2, ... characters."""
        pieces: list[str] = []
        position = 0
        while position < len(self.arguments):
            size = _FRAGMENT_SIZES[len(pieces) % len(_FRAGMENT_SIZES)]
            pieces.append(self.arguments[position : position + size])
            position += size
        return pieces


WEATHER = ToolCall("get_weather", '{"location": "Paris", "unit": "celsius"}')
BASH = ToolCall("bash", '{"command": "rm -rf /tmp/x"}')
TIME = ToolCall("get_time", '{"timezone": "Europe/Paris"}')
BASH_CAPITALISED = ToolCall("Bash", '{"command": "rm -rf /tmp/x"}')
"""Claude Code's shell tool is `Bash`."""
ESCAPED_RM = ToolCall("run", '{"command": "\\u0072m -\\u0072f /tmp/x"}')
"""`rm -rf` hidden behind JSON escapes: only the decoded arguments say it."""
CUSTOM_BASH = ToolCall("bash", "rm -rf /tmp/x", shape="custom")
LEGACY_BASH = ToolCall("bash", '{"command": "rm -rf /tmp/x"}', shape="function_call")
LIST_FILES = ToolCall("bash", '{"command": "ls -la"}')
CLEAN_UP = ToolCall("run", '{"command": "rm -rf /var/data"}')
SECRET = "sk-live-4f9a2b7c1d"
"""An API key the `mixed_calls` scenario leaks in its text."""
MIXED_TEXT = ("Here is the key ", SECRET, ", cleaning up now.")
TOOL_CALLS_BY_SCENARIO: dict[str, tuple[ToolCall, ...]] = {
    "tool_calls": (WEATHER,),
    "parallel_tool_calls": (WEATHER, BASH, TIME),
    "tool_only": (WEATHER, BASH),
    "capitalised_tool": (BASH_CAPITALISED,),
    "escaped_arguments": (ESCAPED_RM,),
    "custom_tool_call": (WEATHER, CUSTOM_BASH),
    "function_call": (LEGACY_BASH,),
    "dangerous_call": (BASH,),
    "two_dangerous_calls": (BASH, CLEAN_UP),
    "mixed_calls": (LIST_FILES, CLEAN_UP, WEATHER),
}
COMMON_SCENARIOS = (
    "text",
    "tool_calls",
    "parallel_tool_calls",
    "tool_only",
    "dangerous_call",
    "two_dangerous_calls",
    "mixed_calls",
    "tool_loop",
    "capitalised_tool",
    "escaped_arguments",
    "error_500",
    "disconnect",
    "hang",
)
OPENAI_ONLY_SCENARIOS = ("custom_tool_call", "function_call")
"""Tool-call shapes only OpenAI's chat API has."""
ANTHROPIC_ONLY_SCENARIOS = ("thinking", "redacted_thinking")
EXTRA_SCENARIOS = ("max_tokens", "error_event")
"""Required for Anthropic; the OpenAI fake renders them too (`finish_reason: "length"`, `data: {"error": ...}`)."""
RESPONSES_ONLY_SCENARIOS = ("thinking", "failed")
"""The Responses fake renders thinking as a reasoning item with a summary, and `failed` as `response.failed`."""


class UnknownScenario(ValueError):
    """The request names a scenario this format cannot play."""


@dataclass(frozen=True)
class Options:
    """What the last user message asked for."""

    scenario: str = "text"
    chunks: int = DEFAULT_CHUNKS
    chunk_delay_ms: int = 0
    writes: Writes | None = None
    echo: str | None = None
    tool: str = "bash"
    """`tool_loop`: the tool to call."""
    token: str = "luthien"
    """`tool_loop`: what the command echoes."""
    tool_result: str | None = None
    """The text of the tool results the conversation ends with (a tool loop's next turn)."""
    tag: str | None = None
    """Added to every tool call's arguments."""
    danger: str | None = None
    """`tool_loop`: ask to `rm -rf` this directory instead of the harmless command."""
    thinking: bool = False
    """The request enables extended thinking."""
    seed: str | None = None
    """The ids' seed (`seed:` knob), instead of one derived from the request."""


@dataclass(frozen=True)
class Scenario:
    """A provider-neutral answer: thinking, text chunks, tool calls, how it stops or fails."""

    name: str
    text_chunks: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    thinking_chunks: tuple[str, ...] = ()
    redacted_thinking: str | None = None
    stop: Stop = "stop"
    failure: Failure | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_chunks)

    @property
    def output_tokens(self) -> int:
        """A deterministic completion token count (about one per 4 characters produced)."""
        produced = self.text + "".join(self.thinking_chunks) + "".join(c.arguments for c in self.tool_calls)
        return max(1, len(produced) // 4)


def text_chunks(count: int = DEFAULT_CHUNKS) -> list[str]:
    """`count` chunks of TEXT (words spread evenly); above 14 chunks the words repeat one per chunk."""
    count = max(1, count)
    if count > len(TEXT_WORDS):
        return [(" " if i else "") + TEXT_WORDS[i % len(TEXT_WORDS)] for i in range(count)]
    size, extra = divmod(len(TEXT_WORDS), count)
    chunks: list[str] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        chunks.append((" " if start else "") + " ".join(TEXT_WORDS[start:end]))
        start = end
    return chunks


def malformed_messages(body: dict[str, Any]) -> str | None:
    """What the real APIs say when `messages` is not a list of objects (both refuse it with a 400
    `invalid_request_error`), or None when it is."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Input should be a valid list"
    for position, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{position}: Input should be a valid dictionary"
    return None


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last `role: user` message (string content or text parts)."""
    texts = user_texts(body)
    return texts[-1] if texts else ""


def user_texts(body: dict[str, Any]) -> list[str]:
    """The text of each `role: user` message, in order (chat and Anthropic `messages`, Responses `input`)."""
    messages = body.get("messages", body.get("input"))
    if isinstance(messages, str):
        return [messages]
    return [
        content_text(message.get("content"), " ")
        for message in (messages if isinstance(messages, list) else [])
        if isinstance(message, dict) and message.get("role") == "user"
    ]


def content_text(content: object, separator: str = "") -> str:
    """A message's (or a tool result's) text: string content, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return separator.join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def tool_result_text(body: dict[str, Any]) -> str | None:
    """The text of the tool results the conversation ends with, None when it does not end in any.

    OpenAI: the `role: tool` messages after the last assistant message. Anthropic: the
    `tool_result` blocks of the last user message (Claude Code may put a `system` message after it).
    Responses: the `function_call_output` items the input ends with.
    """
    items = body.get("input")
    if isinstance(items, list):
        outputs: list[str] = []
        for item in reversed(items):
            if not isinstance(item, dict) or item.get("type") != "function_call_output":
                break
            outputs.insert(0, content_text(item.get("output")))
        return "".join(outputs) if outputs else None
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") != "system"]
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, content_text(message.get("content")))
    if not results:
        content = messages[-1].get("content") if messages and messages[-1].get("role") == "user" else None
        parts = content if isinstance(content, list) else []
        blocks = [b for b in parts if isinstance(b, dict) and b.get("type") == "tool_result"]
        results = [content_text(block.get("content")) for block in blocks]
    return _REMINDER.sub("", "".join(results)) if results else None


_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
"""Claude Code appends these notes to tool results; they are not the tool's output."""


def _marked_text(body: dict[str, Any]) -> str:
    """The last user text, or the latest one naming a scenario when it names none."""
    texts = user_texts(body)
    named = [text for text in texts if _SCENARIO.search(text)]
    if texts and not _SCENARIO.search(texts[-1]) and named:
        return named[-1]
    return texts[-1] if texts else ""


_SCENARIO = re.compile(r"\bscenario:(\w+)")


def parse_options(body: dict[str, Any]) -> Options:
    """Read the scenario name and knobs from the last user message (see the module's docstring)."""
    text = _marked_text(body)

    def find(pattern: str) -> str | None:
        found = re.search(pattern, text)
        return found.group(1) if found else None

    chunks, delay, writes = find(r"\bchunks:(\d+)"), find(r"\bchunk_delay_ms:(\d+)"), find(r"\bwrites:(\w+)")
    return Options(
        scenario=find(r"\bscenario:(\w+)") or "text",
        chunks=int(chunks) if chunks else DEFAULT_CHUNKS,
        chunk_delay_ms=int(delay) if delay else 0,
        writes="aligned" if writes == "aligned" else "coalesced" if writes == "coalesced" else None,
        echo=find(r"\becho:(\S+)"),
        tool=find(r"\btool:(\w+)") or "bash",
        token=find(r"\btoken:(\w+)") or "luthien",
        tag=find(r"\btag:(\S+)"),
        danger=find(r"\bdanger:([\w.-]+)"),
        tool_result=tool_result_text(body),
        thinking=_thinking_enabled(body),
        seed=find(r"\bseed:(\S+)"),
    )


def _thinking_enabled(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def build_scenario(options: Options, provider: Provider) -> Scenario:
    """The scenario the options name, or UnknownScenario."""
    name = options.scenario
    only = {
        "anthropic": ANTHROPIC_ONLY_SCENARIOS,
        "responses": RESPONSES_ONLY_SCENARIOS,
        "openai": OPENAI_ONLY_SCENARIOS,
    }.get(provider, ())
    allowed = COMMON_SCENARIOS + EXTRA_SCENARIOS + only
    if name not in allowed:
        raise UnknownScenario(f"fake {provider} upstream has no scenario {name!r} (known: {', '.join(allowed)})")
    text = tuple(text_chunks(options.chunks)) + ((f" [{options.echo}]",) if options.echo else ())
    if name == "tool_loop":
        return tool_loop_turn(options, thinking=options.thinking and provider == "anthropic")
    if name in TOOL_CALLS_BY_SCENARIO:
        lead_in = () if name == "tool_only" else MIXED_TEXT if name == "mixed_calls" else LEAD_IN_CHUNKS
        calls = tuple(_tagged(call, options.tag) for call in TOOL_CALLS_BY_SCENARIO[name])
        stop: Stop = "function_call" if calls[0].shape == "function_call" else "tool_calls"
        return Scenario(name, lead_in, calls, stop=stop)
    if name == "thinking":
        return Scenario(name, text, thinking_chunks=THINKING_CHUNKS)
    if name == "redacted_thinking":
        return Scenario(name, text, redacted_thinking=REDACTED_THINKING_DATA)
    if name == "max_tokens":
        return Scenario(name, text[: max(1, len(text) // 2)], stop="max_tokens")
    if name == "hang":
        return Scenario(name, text[: max(1, DISCONNECT_AFTER - 1)], failure="hang")
    if name in _CUT_FAILURES:
        return Scenario(name, text[:DISCONNECT_AFTER], failure=_CUT_FAILURES[name])
    return Scenario(name, text)


def _tagged(call: ToolCall, tag: str | None) -> ToolCall:
    if tag is None or call.shape == "custom":  # a custom call's input is free text, not JSON
        return call
    return ToolCall(call.name, json.dumps({**json.loads(call.arguments), "tag": tag}), shape=call.shape)


def tool_loop_command(token: str) -> str:
    """The command a `tool_loop` asks to run: prints `token` and leaves it in a file (the proof it ran)."""
    return f"echo {token} | tee tool-ran-{token}.txt"


def tool_loop_answer(result: str) -> str:
    """The final answer of a `tool_loop`, quoting the tool's result."""
    return f"The command printed: {result.strip()}"


def tool_loop_turn(options: Options, *, thinking: bool) -> Scenario:
    """One turn of `scenario:tool_loop`: the tool call, or (after its result) the answer quoting it."""
    thinking_chunks = THINKING_CHUNKS if thinking else ()
    if options.tool_result is not None:
        answer = tool_loop_answer(options.tool_result)
        return Scenario("tool_loop", tuple(_words(answer)), thinking_chunks=thinking_chunks)
    calls = [ToolCall(options.tool, json.dumps({"command": tool_loop_command(options.token)}))]
    if options.danger:
        calls.insert(0, ToolCall(options.tool, json.dumps({"command": f"rm -rf {options.danger}"})))
    return Scenario("tool_loop", LEAD_IN_CHUNKS, tuple(calls), thinking_chunks=thinking_chunks, stop="tool_calls")


def _words(text: str) -> list[str]:
    """`text` in chunks of one word each (with its leading space)."""
    words = text.split(" ")
    return [(" " if i else "") + word for i, word in enumerate(words)]

"""Policies used only by the e2e tests (loaded by the proxy as `tests.e2e.policies:Name`)."""

from __future__ import annotations

from litellm.types.utils import Choices, ModelResponse

from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy, PolicyContext
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.types import RequestMessage


class BlockForbiddenRequests(SimplePolicy):
    """Refuses requests whose last user message mentions 'forbidden'; otherwise holds and passes text."""

    async def on_request_simple(self, request: RequestMessage) -> RequestMessage:
        if "forbidden" in last_user_content(request):
            self.block("the request mentions something forbidden")
        return request

    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        if "upstream" in content and "block-held" in last_user_content(request):
            self.block("the response mentions the upstream")
        return content


def last_user_content(request: RequestMessage) -> str:
    """The last user message's content, as text. Not `messages[-1]`: Claude Code, asked for a model
    name it does not know, sends a `system` message after the user's."""
    users = [message for message in request.messages if message.get("role") == "user"]
    return str(users[-1].get("content")) if users else ""


class BlockAtFinish(PassthroughPolicy):
    """Streams text as it comes, then refuses at finish_reason: the refusal arrives mid-stream."""

    async def on_finish_reason(self, ctx: StreamingResponseContext) -> None:
        self.block("refused after the text was sent")


class Broken(SimplePolicy):
    """Raises an unexpected error on every response: the plugin must fail closed."""

    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        raise RuntimeError("policy bug")


class ReportOpenState(SimplePolicy):
    """Refuses every request with what the plugin holds open in this worker (this request included).

    Lets a test read the proxy process's per-request state through the real proxy.
    """

    async def on_request_simple(self, request: RequestMessage) -> RequestMessage:
        import luthien_litellm_plugin

        callback = luthien_litellm_plugin.callback
        self.block(f"open spans={callback.open_spans} transactions={callback.open_transactions}")


class EditsInPlace(Policy):
    """Edits the request and the complete response it is given in place, and returns those same
    objects: a natural way to write a policy, which must be obeyed like returning a new one."""

    async def on_request(self, request: RequestMessage, context: PolicyContext) -> RequestMessage:
        last = request.messages[-1]
        last["content"] = f"{last['content']} (edited)"
        return request

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        choice = response.choices[0]
        if isinstance(choice, Choices):
            choice.message.content = (choice.message.content or "").upper()
        return response

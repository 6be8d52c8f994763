"""LuthienCallback: the CustomLogger LiteLLM Proxy calls; wires its hooks to the orchestrators.

Every hook the proxy looks up on the instance's own class (pre-call, streaming iterator,
response headers) is defined here, not inherited: LiteLLM ignores inherited ones.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from functools import partial
from typing import NoReturn, TypeVar, cast

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.llms.openai import ResponsesAPIResponse
from litellm.types.utils import ModelResponse, ModelResponseStream
from opentelemetry import trace
from opentelemetry.trace import Span

from luthien_litellm_plugin import events
from luthien_litellm_plugin.errors import LuthienError, PolicyBlockedError, RouteRefusedError, TerminalStatus
from luthien_litellm_plugin.events import EventSink
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.orchestration.transaction import Origin, Transaction
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.proxy import binding, blocked_requests, request_data
from luthien_litellm_plugin.proxy.binding import Binding, RoutedDeployment
from luthien_litellm_plugin.proxy.client_errors import (
    anthropic_error_event,
    http_error,
    invalid_request_error,
    responses_error_frame,
    responses_failure,
    stream_error,
)
from luthien_litellm_plugin.proxy.coverage import (
    COMMA_LIST_CALL_TYPES,
    COVERED_APIS,
    MCP_TOOL_CALL_TYPE,
    PASS_THROUGH_CALL_TYPE,
    UnpolicedRoutes,
    request_path,
)
from luthien_litellm_plugin.proxy.deployment_policies import DeploymentPolicies
from luthien_litellm_plugin.proxy.router_client import RouterLLMClient
from luthien_litellm_plugin.proxy.settings import PluginConfig
from luthien_litellm_plugin.streaming.egress import CHAT_KEEPALIVE
from luthien_litellm_plugin.streaming.responses_egress import ResponsesEgress
from luthien_litellm_plugin.types import JSONObject, RequestMessage, ToolCall

PASSTHROUGH = "passthrough"
UNPOLICED = "unpoliced"
"""The `api` mark of a request an operator allowed on an uncovered route: it is recorded, and its
response passes untouched."""
TRANSACTION_HEADER = "x-luthien-transaction-id"
T = TypeVar("T")
_marks = request_data.marks  # the hooks' `request_data` parameter shadows the module

_tracer = trace.get_tracer("luthien_litellm_plugin")


class LuthienCallback(CustomLogger):
    """Runs the policy of the serving deployment over every route that reaches a model, or refuses.

    Covered routes (`/chat/completions`, `/v1/messages`, `/v1/responses`) run through the policy engine. Every
    other route is refused unless the policy that would apply is a passthrough, or the operator
    allowed it (`unpoliced_routes`). Each router attempt is checked against the deployment it is
    about to call: a deployment of another policy is never called for the request.
    """

    def __init__(self, config: PluginConfig, model_policies: dict[str, str], sink: EventSink | None = None) -> None:
        super().__init__()
        self.config = config
        self.model_policies = model_policies
        settings = config.settings
        timeout = settings.stream_idle_timeout_seconds
        policies = {**config.policies, UNPOLICED: PassthroughPolicy().named(UNPOLICED)}
        models = RouterLLMClient()  # a policy's own model calls (judges) go through the proxy's router
        self.orchestrators: dict[str, PolicyOrchestrator] = {
            name: create_default_orchestrator(
                policy,
                models,
                sink,
                stream_idle_timeout_seconds=timeout,
                keepalive_seconds=settings.stream_keepalive_seconds,
            )
            for name, policy in policies.items()
        }
        self.deployments = DeploymentPolicies(model_policies, settings.default_policy, config.policies)
        self.unpoliced_routes = UnpolicedRoutes(settings.unpoliced_routes)
        self._policies_in_use = frozenset({*model_policies.values(), settings.default_policy})

    @property
    def open_spans(self) -> int:
        """Transaction spans started and not yet ended (per-request state: 0 when idle). Each span
        belongs to an open transaction and ends with it."""
        return self.open_transactions

    @property
    def open_transactions(self) -> int:
        """Transactions opened and not yet recorded with a terminal status (0 when idle)."""
        return sum(orchestrator.open_transactions for orchestrator in self.orchestrators.values())

    def policy_for(self, model: str) -> str:
        """The policy of a model group (by its configured name)."""
        return self.model_policies.get(model, self.config.settings.default_policy)

    def is_passthrough(self, policy: str) -> bool:
        return self.config.is_passthrough(policy)

    def same_policy(self, first: str, second: str) -> bool:
        return self.config.same_policy(first, second)

    # ----- request -----

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: object, data: dict, call_type: str
    ) -> dict:
        binding.bind(None)
        request_data.clear_marks(data)
        if call_type == MCP_TOOL_CALL_TYPE:
            await self._check_mcp_tool(data)
            return data
        api = COVERED_APIS.get(call_type)
        if api is None:
            await self.admit_uncovered(data, call_type)
            return data
        if api == "responses" and request_data.is_cursor_route(data):
            api = "cursor"
        try:  # before anything is opened: a malformed request leaves nothing behind
            original = request_data.client_request(data, api)
        except request_data.MalformedRequest as error:
            raise invalid_request_error(error) from error
        policy = await self._request_policy(data, call_type, api)
        transaction_id = uuid.uuid4().hex
        request_data.mark(data, transaction_id, policy, api)
        span = self._open_span(transaction_id, policy, api)
        orchestrator = self.orchestrators[policy]
        try:
            self._describe(orchestrator, transaction_id, span, data, api)
            revised = await orchestrator.revise_request(original, transaction_id, span)
        except PolicyBlockedError as error:
            raise blocked_requests.answer(error, data, api, self.config.settings.blocked_request_response) from error
        except LuthienError as error:
            raise http_error(error, api) from error
        except BaseException as error:  # never half-open: whatever happened is the transaction's end
            status: TerminalStatus = "cancelled" if isinstance(error, asyncio.CancelledError) else "error"
            await asyncio.shield(orchestrator.finish(transaction_id, status, f"{type(error).__name__}: {error}"))
            raise
        request_data.apply_request(data, revised, api)
        binding.bind(Binding(transaction_id, policy))
        return data

    async def _request_policy(self, data: dict, call_type: str, api: request_data.Api) -> str:
        """The one policy of every deployment the router may serve the requested model from."""
        model = data.get("model")
        if not isinstance(model, str):
            return self.config.settings.default_policy
        policies = self.deployments.of_request(
            model,
            comma_list=call_type in COMMA_LIST_CALL_TYPES and "," in model,
            specific_deployment=data.get("specific_deployment") is True,
        )
        if not policies:
            return self.config.settings.default_policy
        if len({PASSTHROUGH if self.is_passthrough(policy) else policy for policy in policies}) > 1:
            reason = (
                f"model '{model}' can be served by deployments under different policies "
                f"({', '.join(sorted(policies))}); ask for one model group"
            )
            await self._refuse(data, call_type, api, self.config.settings.default_policy, events.ROUTE_REFUSED, reason)
        return min(policies)

    async def _check_mcp_tool(self, data: dict) -> None:
        """A tool LiteLLM's MCP gateway is about to run: the MCP policy sees it like a model's
        tool call. A removed call is refused; changed arguments are what runs."""
        policy = self.config.settings.mcp_policy or self.config.settings.default_policy
        binding.bind(Binding(None, policy))
        if self.is_passthrough(policy):
            return
        name = str(data.get("mcp_tool_name") or "")
        arguments = data.get("mcp_arguments")
        tool_call = ToolCall(id=f"mcp_{uuid.uuid4().hex[:24]}", name=name, arguments=json.dumps(arguments or {}))
        messages = data.get("messages")
        request = RequestMessage(model=f"mcp:{name}", messages=messages if isinstance(messages, list) else [])
        transaction_id = uuid.uuid4().hex
        span = self._open_span(transaction_id, policy, "mcp")
        orchestrator = self.orchestrators[policy]
        self._describe(orchestrator, transaction_id, span, data, "mcp")
        try:
            kept = await orchestrator.check_tool_call(tool_call, request, transaction_id, span)
        except LuthienError as error:
            raise http_error(error, "chat") from error
        if kept is None:
            raise http_error(PolicyBlockedError(policy, f"the MCP tool '{name}' is not allowed"), "chat")
        if kept.arguments != tool_call.arguments:
            data["modified_arguments"] = json.loads(kept.arguments)

    async def admit_uncovered(self, data: dict, call_type: str) -> None:
        """Let a route the engine does not cover through only where no policy would act on it,
        or the operator allowed it (recorded as unpoliced). Raises the refusal otherwise."""
        path = request_path(data)
        model = data.get("model")
        if call_type == PASS_THROUGH_CALL_TYPE or not isinstance(model, str):
            policies = self._policies_in_use  # the provider or model is not ours to resolve
        else:
            found = self.deployments.of_request(model, comma_list=False, specific_deployment=False)
            policies = found or frozenset({self.config.settings.default_policy})
        if all(self.is_passthrough(policy) for policy in policies):
            binding.bind(Binding(None, min(policies)))
            return
        route = path or call_type
        if self.unpoliced_routes.allows(call_type, path):
            await self._open_unpoliced(data, call_type, route)
            return
        policed = ", ".join(sorted(p for p in policies if not self.is_passthrough(p)))
        reason = (
            f"route {route} (LiteLLM call type '{call_type}') is not covered by the luthien plugin, and "
            f"policy {policed} applies here; an operator can allow it in "
            "callback_settings.luthien.unpoliced_routes"
        )
        await self._refuse(data, call_type, "unpoliced", min(policies), events.ROUTE_REFUSED, reason)

    async def end_unpoliced(self, data: dict, failed: bool) -> None:
        """Record how a request admitted as unpoliced outside the hooks ended."""
        marked = request_data.marks(data)
        if marked is not None and marked.api == "unpoliced":
            await self.orchestrators[UNPOLICED].finish(marked.transaction_id, "error" if failed else "success")

    async def _open_unpoliced(self, data: dict, call_type: str, route: str) -> None:
        transaction_id = uuid.uuid4().hex
        request_data.mark(data, transaction_id, UNPOLICED, "unpoliced")
        span = self._open_span(transaction_id, UNPOLICED, "unpoliced")
        transaction = self._describe(self.orchestrators[UNPOLICED], transaction_id, span, data, "unpoliced")
        await transaction.recorder.record_unprocessed_request(_client_body(data), _model_of(data))
        await transaction.observability.emit_event(events.ROUTE_UNPOLICED, {"route": route, "call_type": call_type})
        binding.bind(Binding(transaction_id, UNPOLICED, unpoliced=True))

    async def _refuse(
        self, data: dict, call_type: str, api: request_data.Api, policy: str, event_type: str, reason: str
    ) -> NoReturn:
        """Record the request as refused (status `blocked`) and raise the client's error."""
        transaction_id = uuid.uuid4().hex
        span = self._open_span(transaction_id, policy, api)
        orchestrator = self.orchestrators[policy]
        transaction = self._describe(orchestrator, transaction_id, span, data, api)
        await transaction.recorder.record_unprocessed_request(_client_body(data), _model_of(data))
        route = request_path(data) or call_type
        await transaction.observability.emit_event(
            event_type, {"route": route, "call_type": call_type, "policy": policy, "reason": reason}
        )
        error = RouteRefusedError(f"Refused by luthien: {reason}")
        await orchestrator.finish(transaction_id, "blocked", error.message)
        raise http_error(error, api)

    def _describe(
        self, orchestrator: PolicyOrchestrator, transaction_id: str, span: Span, data: dict, api: str
    ) -> Transaction:
        call_id = data.get("litellm_call_id")  # client-settable: a reference, never our key
        origin = Origin(call_id if isinstance(call_id, str) else None, api)
        return orchestrator.transaction(transaction_id, span, owns_span=True, origin=origin)

    # ----- deployments: every router attempt, fallbacks included -----

    async def async_pre_call_check(self, deployment: dict, parent_otel_span: Span | None) -> dict | None:
        """The router is about to call `deployment`: it must have the policy the request ran under."""
        policy = self.deployments.of_deployment(deployment)
        model_info = deployment.get("model_info")
        deployment_id = str(model_info.get("id")) if isinstance(model_info, dict) else ""
        group = str(deployment.get("model_name"))
        binding.routed(RoutedDeployment(deployment_id, group, policy))
        bound = binding.current()
        if bound is None:
            if self.is_passthrough(policy):
                return None
            reason = (
                f"deployment '{deployment_id}' of model group '{group}' uses policy '{policy}', and this call "
                "did not come through a route the luthien plugin covers"
            )
        elif bound.unpoliced or self.same_policy(bound.policy, policy):
            return None
        else:
            reason = (
                f"deployment '{deployment_id}' of model group '{group}' uses policy '{policy}', but this "
                f"request was checked under policy '{bound.policy}'"
            )
            await self._note_refused_deployment(bound, deployment_id, group, policy, reason)
        raise RouteRefusedError(f"Refused by luthien: {reason}")

    async def async_pre_call_deployment_hook(self, kwargs: dict, call_type: object) -> dict | None:
        """A provider call is about to be made: refuse one that no router attempt vouched for.

        The router reports each deployment it calls (`async_pre_call_check`). A model call made
        for one of our requests without that (LiteLLM calling a model outside its router) is
        served by no configured deployment, so the default policy is what applies to it.
        """
        bound = binding.current()
        if bound is None or bound.unpoliced or binding.current_deployment() is not None:
            return None
        default = self.config.settings.default_policy
        if self.same_policy(bound.policy, default):
            return None
        model = kwargs.get("model")
        reason = (
            f"a call to '{model}' outside LiteLLM's router (no configured deployment, so policy "
            f"'{default}') for a request checked under policy '{bound.policy}'"
        )
        await self._note_refused_deployment(bound, "", str(model), default, reason)
        raise RouteRefusedError(f"Refused by luthien: {reason}")

    async def _note_refused_deployment(
        self, bound: Binding, deployment_id: str, group: str, policy: str, reason: str
    ) -> None:
        """Record the refused attempt on the request's transaction. The transaction stays open: a
        later attempt (a fallback) may still be served, under the request's own policy."""
        if bound.transaction_id is None:
            return
        orchestrator = self.orchestrators.get(bound.policy)
        if orchestrator is None or not orchestrator.is_open(bound.transaction_id):
            return
        transaction = orchestrator.transaction(bound.transaction_id, orchestrator.span_of(bound.transaction_id))
        await transaction.observability.emit_event(
            events.DEPLOYMENT_REFUSED,
            {"deployment_id": deployment_id, "model_group": group, "policy": policy, "reason": reason},
        )

    # ----- responses -----

    # LiteLLM annotates items as ModelResponseStream; on /v1/messages they are SSE bytes, on
    # /v1/responses LiteLLM's Responses event objects. Not a generator itself: it returns the
    # engine's stream, so a chunk crosses no extra generator.
    def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self,
        user_api_key_dict: UserAPIKeyAuth,
        response: AsyncIterator[object],
        request_data: dict,
    ) -> AsyncIterator[object]:
        try:
            found = self._open_transaction(request_data)
        except LuthienError as error:
            return _failed(stream_error(error, _api_of(request_data)))
        if found is None:
            return blocked_requests.as_anthropic_events(response)
        transaction_id, orchestrator, api = found
        span = orchestrator.span_of(transaction_id)
        # What LiteLLM hands the hook depends on the endpoint: SSE bytes on /v1/messages, event
        # objects on /v1/responses (each ingress rejects anything else), ModelResponseStream on chat
        # and on the Cursor route.
        if api == "unpoliced":
            return _finished_when_done(response, orchestrator, transaction_id)
        if api == "responses":
            return orchestrator.stream_responses_response(
                response, transaction_id, span, error_event=_responses_error_event
            )
        client_error = partial(stream_error, api=api)
        if api == "messages":
            reads = cast(AsyncIterator[bytes], response)
            return orchestrator.stream_anthropic_response(
                reads, transaction_id, span, error_frame=anthropic_error_event, client_error=client_error
            )
        chunks = cast(AsyncIterator[ModelResponseStream], response)
        return orchestrator.stream_response(
            chunks, transaction_id, span, client_error=client_error, keepalive=_chat_keepalive
        )

    async def async_post_call_success_hook(
        self, data: dict, user_api_key_dict: UserAPIKeyAuth, response: object
    ) -> object:
        try:
            found = self._open_transaction(data)
        except LuthienError as error:
            raise http_error(error, _api_of(data)) from error
        if found is None:
            return response
        transaction_id, orchestrator, api = found
        span = orchestrator.span_of(transaction_id)
        try:
            if api == "unpoliced":
                await orchestrator.finish(transaction_id, "success")
                return response
            if isinstance(response, ModelResponse):
                return await orchestrator.apply_full_response(response, transaction_id, span)
            if isinstance(response, dict) and response.get("type") == "message":
                return await orchestrator.apply_anthropic_message(response, transaction_id, span)
            if isinstance(response, ResponsesAPIResponse):
                return await orchestrator.apply_responses_response(response, transaction_id, span)
            unexpected = RouteRefusedError(f"Refused by luthien: unexpected response type {type(response).__name__}")
            await orchestrator.finish(transaction_id, "error", unexpected.message)
            raise unexpected  # never serve a response the policy did not see
        except LuthienError as error:
            raise http_error(error, api) from error

    async def async_post_call_failure_hook(
        self,
        request_data: dict,
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> None:
        marked = _marks(request_data)
        if marked is None:
            return None
        orchestrator = self.orchestrators.get(marked.policy)
        if orchestrator is None:
            return None
        status: TerminalStatus = "blocked" if _refusal_in(original_exception) else "error"
        error = f"{type(original_exception).__name__}: {original_exception}"
        await orchestrator.finish(marked.transaction_id, status, error)
        return None

    async def async_post_call_response_headers_hook(
        self,
        data: dict,
        user_api_key_dict: UserAPIKeyAuth,
        response: object,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, object] | None = None,
    ) -> dict[str, str] | None:
        marked = request_data.marks(data)
        return {TRANSACTION_HEADER: marked.transaction_id} if marked else None

    # ----- per-request state -----

    def _open_transaction(self, data: dict) -> tuple[str, PolicyOrchestrator, request_data.Api] | None:
        """Our open transaction for this request; None for a request the plugin let through
        without one (a passthrough on a route it does not cover).

        Fails closed: a request bound to a transaction whose marks are gone, name another
        transaction, or name one that is no longer open raises `RouteRefusedError`.
        """
        marked = request_data.marks(data)
        bound = binding.current()
        bound_id = bound.transaction_id if bound is not None else None
        if marked is None and bound_id is None:
            return None
        if marked is None or marked.transaction_id != bound_id:
            raise RouteRefusedError("Refused by luthien: the request's transaction marks do not match the request")
        orchestrator = self.orchestrators.get(marked.policy)
        if orchestrator is None or not orchestrator.is_open(marked.transaction_id):
            raise RouteRefusedError(f"Refused by luthien: transaction {marked.transaction_id} is no longer open")
        return marked.transaction_id, orchestrator, marked.api

    def _open_span(self, transaction_id: str, policy: str, api: str) -> Span:
        """The transaction's span; it ends with the transaction (see `_describe`)."""
        return _tracer.start_span("luthien.transaction", attributes={"luthien.policy": policy, "luthien.api": api})


async def _failed(error: Exception) -> AsyncGenerator[object, None]:
    """A stream that fails before its first item (the client gets a real HTTP error)."""
    raise error
    yield  # an async generator: LiteLLM iterates what the hook returns


def _responses_error_event(error: Exception, egress: ResponsesEgress) -> object:
    """How a failing Responses stream ends: a `response.failed` event once it started; before, an
    error frame, which LiteLLM turns into a real HTTP error (an exception raised here would
    reach the client as a 200 stream). After `response.completed` nothing may follow."""
    if egress.finished:
        raise error
    if egress.started:
        return egress.failed(*responses_failure(error))
    return responses_error_frame(error)


async def _finished_when_done(
    items: AsyncIterator[T], orchestrator: PolicyOrchestrator, transaction_id: str
) -> AsyncGenerator[T, None]:
    """Pass an unpoliced stream through untouched; record how it ended."""
    status: TerminalStatus = "cancelled"
    error: str | None = "client disconnected"
    try:
        async for item in items:
            yield item
        status, error = "success", None
    except Exception as failure:
        status, error = "error", f"{type(failure).__name__}: {failure}"
        raise
    finally:
        await asyncio.shield(orchestrator.finish(transaction_id, status, error))


def _chat_keepalive() -> bytes:
    return CHAT_KEEPALIVE


def _api_of(data: dict) -> request_data.Api:
    marked = request_data.marks(data)
    return marked.api if marked is not None else "chat"


def _refusal_in(error: BaseException) -> bool:
    """Whether the request failed because the plugin refused a deployment (LiteLLM's router may
    wrap the exception it got from `async_pre_call_check`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, RouteRefusedError) or "Refused by luthien:" in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _client_body(data: dict) -> JSONObject:
    """What the client sent (LiteLLM keeps it in `proxy_server_request.body`), for the record."""
    server_request = data.get("proxy_server_request")
    body = server_request.get("body") if isinstance(server_request, dict) else None
    return body if isinstance(body, dict) else {}


def _model_of(data: dict) -> str:
    model = data.get("model")
    return model if isinstance(model, str) else ""

"""create_default_orchestrator: a PolicyOrchestrator wired with the default recorder."""

from __future__ import annotations

from opentelemetry.trace import Span

from luthien_litellm_plugin.events import EventSink
from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.observability.context import DefaultObservabilityContext, ObservabilityContext
from luthien_litellm_plugin.observability.transaction_recorder import (
    DefaultTransactionRecorder,
    TransactionRecorder,
)
from luthien_litellm_plugin.orchestration.policy_orchestrator import DEFAULT_IDLE_TIMEOUT_SECONDS, PolicyOrchestrator
from luthien_litellm_plugin.orchestration.transaction import Origin
from luthien_litellm_plugin.policies.policy import Policy


def create_default_orchestrator(
    policy: Policy,
    llm_client: LLMClient | None = None,
    db_pool: EventSink | None = None,
    event_publisher: EventSink | None = None,
    *,
    stream_idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
    keepalive_seconds: float | None = None,
    labels: dict[str, str] | None = None,
) -> PolicyOrchestrator:
    """Create orchestrator with default dependencies.

    `db_pool` / `event_publisher` receive every recorded event (any `EventSink`: a
    `luthien_litellm_plugin.storage` pipeline, or `InMemoryEventSink` in tests).
    """
    metric_labels = {"policy": policy.name, **(labels or {})}

    def observability_factory(transaction_id: str, span: Span) -> ObservabilityContext:
        return DefaultObservabilityContext(
            transaction_id=transaction_id,
            span=span,
            db_pool=db_pool,
            event_publisher=event_publisher,
            labels=metric_labels,
        )

    def recorder_factory(observability: ObservabilityContext, origin: Origin) -> TransactionRecorder:
        return DefaultTransactionRecorder(
            observability=observability, policy_name=policy.name, call_id=origin.call_id, api=origin.api
        )

    return PolicyOrchestrator(
        policy=policy,
        llm_client=llm_client,
        observability_factory=observability_factory,
        recorder_factory=recorder_factory,
        stream_idle_timeout_seconds=stream_idle_timeout_seconds,
        keepalive_seconds=keepalive_seconds,
    )

from opentelemetry.trace import Span

from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.observability.context import DefaultObservabilityContext, ObservabilityContext
from luthien_litellm_plugin.observability.transaction_recorder import DefaultTransactionRecorder, TransactionRecorder
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.orchestration.transaction import Origin
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from tests.streams import SPAN, chunk, iterate, request


def test_factory_wires_default_contexts_and_recorder() -> None:
    orchestrator = create_default_orchestrator(AllCapsPolicy(), ReplayLLMClient(), stream_idle_timeout_seconds=5)
    transaction = orchestrator.transaction("t", SPAN)
    assert isinstance(transaction.observability, DefaultObservabilityContext)
    assert isinstance(transaction.recorder, DefaultTransactionRecorder)
    assert orchestrator.stream_idle_timeout_seconds == 5


async def test_contexts_are_created_once_per_transaction() -> None:
    created: list[str] = []
    sink = InMemoryEventSink()

    def observability(transaction_id: str, span: Span) -> ObservabilityContext:
        created.append(transaction_id)
        return DefaultObservabilityContext(transaction_id, span, db_pool=sink)

    def recorder(context: ObservabilityContext, origin: Origin) -> TransactionRecorder:
        return DefaultTransactionRecorder(context)

    orchestrator = PolicyOrchestrator(AllCapsPolicy(), ReplayLLMClient(), observability, recorder)
    final = await orchestrator.process_request(request(), "t1", SPAN)
    chunks = [chunk("a", role="assistant"), chunk(finish_reason="stop")]
    served = [c async for c in orchestrator.stream_response(iterate(chunks), "t1", SPAN, final)]
    assert created == ["t1"]
    assert [e.sequence for e in sink.events] == list(range(len(sink.events)))
    assert served[0].choices[0].delta.content == "A"

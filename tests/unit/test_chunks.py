"""`copied` is `model_copy(update=…)` without its overhead: the same result on LiteLLM's chunk types."""

from __future__ import annotations

from litellm.types.utils import ChatCompletionDeltaToolCall, Delta, Function, ModelResponseStream, StreamingChoices

from luthien_litellm_plugin.chunks import copied, with_text
from tests.streams import chunk


def litellm_text_chunk() -> ModelResponseStream:
    text = chunk("hello", role="assistant")
    text._hidden_params = {"model_id": "deployment-1"}
    return text


def test_a_copy_with_changes_equals_pydantic_model_copy() -> None:
    original = litellm_text_chunk()
    choice = original.choices[0]
    assert isinstance(choice, StreamingChoices)
    cases = [
        (choice.delta, {"content": "other"}),  # an extra on LiteLLM's Delta
        (choice.delta, {"tool_calls": [ChatCompletionDeltaToolCall(index=0, function=Function(arguments="{}"))]}),
        (choice, {"finish_reason": "stop"}),  # a declared field
        (original, {"choices": []}),
        (original, {}),
    ]
    for model, changes in cases:
        ours, theirs = copied(model, **changes), model.model_copy(update=changes)
        assert type(ours) is type(theirs)
        assert ours.__dict__ == theirs.__dict__
        assert ours.__pydantic_extra__ == theirs.__pydantic_extra__
        assert ours.__pydantic_fields_set__ == theirs.__pydantic_fields_set__
        assert ours.__pydantic_private__ == theirs.__pydantic_private__
        assert ours.model_dump_json() == theirs.model_dump_json()


def test_a_copy_shares_no_container_with_the_original() -> None:
    original = litellm_text_chunk()
    delta = original.choices[0].delta
    assert isinstance(delta, Delta)

    copy = copied(delta, content="changed")
    copy.role = "user"

    assert (delta.content, delta.role) == ("hello", "assistant")
    assert copy.__pydantic_fields_set__ is not delta.__pydantic_fields_set__


def test_with_text_changes_only_the_text_and_owns_its_hidden_params() -> None:
    template = litellm_text_chunk()

    text = with_text(template, "next")

    assert text.choices[0].delta.content == "next"  # type: ignore[union-attr]
    assert template.choices[0].delta.content == "hello"  # type: ignore[union-attr]
    assert text.model_dump(exclude={"choices"}) == template.model_dump(exclude={"choices"})
    assert text._hidden_params == {} and template._hidden_params == {"model_id": "deployment-1"}

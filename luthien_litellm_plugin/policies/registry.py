"""Built-in policy names, and building a policy from a class reference and its options."""

from __future__ import annotations

import importlib

from pydantic import BaseModel, ValidationError

from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.block_tools import BlockToolsPolicy
from luthien_litellm_plugin.policies.llm_rule import LLMRulePolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.string_replacement import StringReplacementPolicy
from luthien_litellm_plugin.policies.tool_call_judge import ToolCallJudgePolicy

BUILTIN_POLICIES: dict[str, type[Policy]] = {
    "passthrough": PassthroughPolicy,
    "all_caps": AllCapsPolicy,
    "string_replacement": StringReplacementPolicy,
    "block_tools": BlockToolsPolicy,
    "tool_call_judge": ToolCallJudgePolicy,
    "llm_rule": LLMRulePolicy,
}


class PolicyConfigError(ValueError):
    """A policy could not be built from configuration. `path` is where, e.g. `policies.x.options.tools`."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def resolve_policy_class(reference: str, path: str) -> type[Policy]:
    """A built-in short name, or `package.module:ClassName`."""
    if reference in BUILTIN_POLICIES:
        return BUILTIN_POLICIES[reference]
    if ":" not in reference:
        known = ", ".join(sorted(BUILTIN_POLICIES))
        raise PolicyConfigError(path, f"unknown policy class '{reference}' (built-ins: {known}; or 'module:Class')")
    module_name, _, class_name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise PolicyConfigError(path, f"cannot import module '{module_name}': {error}") from error
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, Policy)):
        raise PolicyConfigError(path, f"'{reference}' is not a Policy subclass")
    return found


def build_policy(name: str, reference: str, options: dict[str, object], path: str) -> Policy:
    """Instantiate the policy; `options` are validated against the class's `Options` model."""
    policy_class = resolve_policy_class(reference, f"{path}.class")
    options_model: type[BaseModel] | None = getattr(policy_class, "Options", None)
    if options_model is None:
        if options:
            raise PolicyConfigError(f"{path}.options", f"policy class '{reference}' takes no options")
        policy = policy_class()
    else:
        try:
            validated = options_model.model_validate(options)
        except ValidationError as error:
            raise PolicyConfigError(_first_error_path(f"{path}.options", error), _messages(error)) from error
        policy = policy_class(validated)  # type: ignore[call-arg]
    return policy.named(name)


def _first_error_path(prefix: str, error: ValidationError) -> str:
    location = error.errors()[0]["loc"]
    return ".".join([prefix, *(str(part) for part in location)]) if location else prefix


def _messages(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']}" for e in error.errors())

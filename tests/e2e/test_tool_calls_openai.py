"""Plan e2e: tool calls preserved through the proxy (real openai API when its key is set)."""

import pytest

from tests.e2e.conftest import Proxy
from tests.e2e.plan_checks import tool_calls_preserved

pytestmark = pytest.mark.e2e


def test_tool_calls_openai(plan_proxy: Proxy) -> None:
    tool_calls_preserved(plan_proxy, "openai")

"""Plan e2e: streaming through the proxy with the uppercase policy (real openai API when its key is set)."""

import pytest

from tests.e2e.conftest import Proxy
from tests.e2e.plan_checks import streaming_uppercase

pytestmark = pytest.mark.e2e


def test_streaming_openai_with_uppercase_policy(plan_proxy: Proxy) -> None:
    streaming_uppercase(plan_proxy, "openai")

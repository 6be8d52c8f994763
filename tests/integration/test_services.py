"""The service check: an unreachable service skips a test locally and fails it under CI=true."""

from __future__ import annotations

import pytest

from tests.integration.conftest import require_service
from tests.integration.fault_proxy import free_port


def test_an_unreachable_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Nothing is not reachable"):
        require_service("Nothing", "127.0.0.1", free_port())


def test_an_unreachable_service_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="scripts/services"):
        require_service("Nothing", "127.0.0.1", free_port())

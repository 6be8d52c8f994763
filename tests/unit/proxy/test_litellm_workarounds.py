import sys

import litellm
import pytest
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

from luthien_litellm_plugin.proxy import litellm_workarounds


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the CPython defect is fixed from 3.12 on")
def test_finalizer_restore_is_disabled_on_311_unless_correlation_logging_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    original = CustomStreamWrapper.__dict__["__del__"]
    monkeypatch.setattr(CustomStreamWrapper, "__del__", original)
    monkeypatch.setattr(litellm, "request_correlation_in_logs", True)
    assert litellm_workarounds.avoid_gc_contextvar_crash() is False
    assert CustomStreamWrapper.__dict__["__del__"] is original
    monkeypatch.setattr(litellm, "request_correlation_in_logs", False)
    assert litellm_workarounds.avoid_gc_contextvar_crash() is True
    assert CustomStreamWrapper.__dict__["__del__"] is litellm_workarounds._no_finalizer_restore

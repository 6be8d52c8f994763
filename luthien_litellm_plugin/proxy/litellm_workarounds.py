"""Workarounds for defects of the LiteLLM / CPython versions the plugin runs on.

CPython before 3.12 can crash (SIGSEGV, use-after-free in the context-variable HAMT,
python/cpython#148891) when a garbage-collection pass runs a finalizer that sets a
ContextVar while another ContextVar.set is allocating. LiteLLM's
`CustomStreamWrapper.__del__` does exactly that (it restores its log-correlation ids), and
LiteLLM sets ContextVars in its failure-logging threads, so a proxy on Python 3.11 crashes
now and then after rejected requests. The finalizer's restore only matters when
`litellm.request_correlation_in_logs` is on (off by default): then it is left alone.
"""

from __future__ import annotations

import logging
import sys

import litellm
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

logger = logging.getLogger("luthien_litellm_plugin")


def _no_finalizer_restore(self: CustomStreamWrapper) -> None:
    """Correlation ids are not stamped (request_correlation_in_logs is off): nothing to restore."""


def avoid_gc_contextvar_crash() -> bool:
    """Disable LiteLLM's finalizer-side ContextVar restore where it can crash CPython. True if applied."""
    if sys.version_info >= (3, 12) or getattr(litellm, "request_correlation_in_logs", False):
        return False
    if "__del__" not in CustomStreamWrapper.__dict__:
        return False
    CustomStreamWrapper.__del__ = _no_finalizer_restore  # type: ignore[method-assign]
    logger.info("luthien: disabled CustomStreamWrapper.__del__ context restore (CPython < 3.12 GC crash)")
    return True

"""A real client that cannot be installed skips its tests locally and fails them under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.clients.installs import claude_code


def test_missing_npm_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="npm is needed"):
        claude_code(npm=str(tmp_path / "no-npm"), cache=tmp_path)


def test_missing_npm_skips_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="npm is needed"):
        claude_code(npm=str(tmp_path / "no-npm"), cache=tmp_path)


def test_a_failing_install_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    npm = tmp_path / "npm"
    npm.write_text("#!/bin/sh\necho 'registry unreachable' >&2\nexit 1\n")
    npm.chmod(0o755)
    with pytest.raises(pytest.fail.Exception, match="registry unreachable"):
        claude_code(npm=str(npm), cache=tmp_path)

"""The Dockerfile's install steps work: docker/install-plugin.sh, run exactly as the Dockerfile runs
it, on exactly the files the Dockerfile copies, in a fresh virtualenv holding only the LiteLLM
version the image has (the pinned one). Takes a few minutes (it installs LiteLLM)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docker.compose_file import DOCKER

REPO = DOCKER.parent
pytestmark = pytest.mark.slow


def test_the_install_script_installs_a_working_plugin_next_to_the_pinned_litellm(tmp_path: Path) -> None:
    version = re.search(r"^litellm==([\d.]+)$", (REPO / "constraints.txt").read_text(), re.M)
    assert version is not None  # the image's LiteLLM: the version CI tests
    venv = tmp_path / "image"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    base = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"litellm[proxy]=={version.group(1)}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert base.returncode == 0, base.stderr[-4000:]

    root = tmp_path / "root"  # the image's file system, as far as the Dockerfile's COPY lines fill it
    for line in re.findall(r"^COPY (.+)$", (DOCKER / "Dockerfile").read_text(), re.M):
        *sources, target = line.split()
        for source in sources:
            destination = root / target.lstrip("/")
            if target.endswith("/"):
                destination = destination / Path(source).name
            destination.parent.mkdir(parents=True, exist_ok=True)
            copy = shutil.copytree if (REPO / source).is_dir() else shutil.copy2
            copy(REPO / source, destination)
    run = re.search(r"^RUN sh (\S+) (\S+)$", (DOCKER / "Dockerfile").read_text(), re.M)
    assert run is not None
    script, source = root / run.group(1).lstrip("/"), root / run.group(2).lstrip("/")
    installed = subprocess.run(
        ["sh", str(script), str(source)],
        env={**env, "PYTHON": str(python)},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    assert "luthien plugin installed into" in installed.stdout

    versions = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'), m.version('luthien-litellm-plugin'))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert versions[0] == version.group(1)  # the image's LiteLLM is left as it was
    assert (venv / "bin" / "luthien").exists() and (venv / "bin" / "litellm").exists()
    check = subprocess.run(
        [str(venv / "bin" / "luthien"), "check-config", str(DOCKER / "litellm_config.yaml")],
        env={
            **env,
            "LUTHIEN_DATABASE_URL": "postgresql://luthien:x@postgres:5432/luthien",
            "LUTHIEN_REDIS_URL": "redis://redis:6379/0",
            "LUTHIEN_SPOOL_DIR": "/var/lib/luthien/spool",
            "LITELLM_MASTER_KEY": "sk-image-check-0123456789",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr
    assert "model demo → all_caps" in check.stdout
    static = subprocess.run(
        [
            str(python),
            "-c",
            "import os; from luthien_litellm_plugin.viewer.app import STATIC_DIRECTORY as d; print(os.listdir(d))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "app.js" in static and "index.html" in static  # the viewer's assets ship in the package

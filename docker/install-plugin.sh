#!/bin/sh
# Install the luthien plugin into the Python environment that runs `litellm`.
#
# The Dockerfile runs this in the LiteLLM image; tests/docker/test_dockerfile_install.py runs the
# same file in a fresh virtualenv that holds only the pinned LiteLLM, as the image does.
#   usage: install-plugin.sh SOURCE_DIR        (PYTHON=/path/to/python to choose the interpreter)
set -eu
SRC="${1:?usage: install-plugin.sh SOURCE_DIR}"
PYTHON="${PYTHON:-python3}"

# LiteLLM is already there, at the version the plugin pins: pip keeps it and adds the plugin's
# own dependencies (asyncpg, aiosqlite, redis, the OpenTelemetry SDK) and the OTLP exporter
# that LiteLLM's `otel` callback uses to reach the collector.
"$PYTHON" -m pip install --no-cache-dir --disable-pip-version-check "$SRC" "opentelemetry-exporter-otlp-proto-http>=1.30"

# Fail the build, not the first request, if something is missing. (LiteLLM's bundled model cost
# map: a build has no business fetching the remote one.)
export LITELLM_LOCAL_MODEL_COST_MAP=True
"$PYTHON" -c "import luthien_litellm_plugin.proxy.bootstrap, luthien_litellm_plugin.viewer.app, luthien_litellm_plugin.cli.main"
"$PYTHON" -m luthien_litellm_plugin.cli.main --help >/dev/null
echo "luthien plugin installed into $("$PYTHON" -c 'import sys; print(sys.prefix)')"

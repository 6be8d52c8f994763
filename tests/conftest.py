"""Test-wide setup: LiteLLM must not fetch its cost map from the network at import."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

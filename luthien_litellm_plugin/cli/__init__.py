"""`luthien`: the operator's command line (check a config, follow, show, summarise, export
transactions, inspect and replay the spool). Entry point: `luthien_litellm_plugin.cli.main:main`.

Only `check-config` (and `--config`) import LiteLLM, which is slow to import; the CLI never needs
LiteLLM's remote model cost map, so LiteLLM is told to use its bundled copy."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

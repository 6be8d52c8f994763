"""The plugin against stock LiteLLM Proxy, measured as `/work/shared/BENCHMARKING.md` prescribes.

`python -m bench.proxy_overhead` is the entry point (`bench.overhead.cli`). One idea a module:

- `arms`: what each arm runs (config, code, environment), the baseline worktree
- `processes`: starting proxies, pinning CPUs, CPU time of a process tree from `/proc`
- `gclog`: the gen-2 garbage collections each proxy logs (`site/sitecustomize.py`)
- `load`: foreign load on the machine during a round
- `requests`: one request per endpoint, its response verified
- `workloads`: the workloads, and measuring one on one arm
- `stats`: paired ratios, medians and spreads
- `targets`: issue 13's targets and their verdicts
- `runner`: interleaved rounds
- `report`: summary, markdown table, JSON
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # importing LiteLLM must not fetch it

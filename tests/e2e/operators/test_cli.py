"""The `luthien` console script, run as an operator runs it, against what a real proxy recorded."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.operators.conftest import ViewerProxy, cli_environment
from tests.integration.history.recorded import Recorded

pytestmark = pytest.mark.e2e

LUTHIEN = str(Path(sys.executable).parent / "luthien")
UNREACHABLE_POSTGRES = "postgresql://luthien:pw@127.0.0.1:1/luthien"


def luthien(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LUTHIEN, *args], capture_output=True, text=True, timeout=120, env=env or cli_environment(), cwd=cwd
    )


def where(proxy: ViewerProxy) -> list[str]:
    return ["--database-url", proxy.database_url]


def new_transaction(proxy: ViewerProxy, text: str) -> str:
    answer = httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        headers=proxy.headers,
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
        timeout=30,
    )
    assert answer.status_code == 200
    return answer.headers["x-luthien-transaction-id"]


def test_check_config_accepts_the_proxys_config_and_names_the_key_of_a_bad_one(
    viewer_proxy: ViewerProxy, tmp_path: Path
) -> None:
    config = viewer_proxy.directory / "litellm_config.yaml"
    ok = luthien("check-config", str(config))
    assert ok.returncode == 0, ok.stderr
    assert "ok:" in ok.stdout and "model gpt-4o-strict → strict_tools" in ok.stdout

    broken = yaml.safe_load(config.read_text())
    broken["callback_settings"]["luthien"]["policies"]["no_shell"]["options"]["tools"] = "bash"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(broken))
    refused = luthien("check-config", str(bad))
    assert refused.returncode == 1
    assert "callback_settings.luthien.policies.no_shell.options.tools" in refused.stderr

    broken = yaml.safe_load(config.read_text())
    broken["model_list"][0]["model_info"]["luthien_policy"] = "ghost"
    bad.write_text(yaml.safe_dump(broken))
    refused = luthien("check-config", str(bad))
    assert (
        refused.returncode == 1 and "model_list[0].model_info.luthien_policy: unknown policy 'ghost'" in refused.stderr
    )

    broken = yaml.safe_load(config.read_text())
    broken["callback_settings"]["luthien"]["database_url"] = "os.environ/LUTHIEN_CLI_TEST_UNSET"
    bad.write_text(yaml.safe_dump(broken))
    refused = luthien("check-config", str(bad))
    assert refused.returncode == 1
    assert (
        "callback_settings.luthien.database_url: environment variable LUTHIEN_CLI_TEST_UNSET is not set"
        in refused.stderr
    )
    missing = luthien("check-config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "cannot read it" in missing.stderr


def test_the_same_bad_config_stops_the_proxy_with_the_same_key(tmp_path: Path) -> None:
    config = tmp_path / "litellm_config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "x", "mock_response": "hi"}}
                ],
                "litellm_settings": {"callbacks": ["luthien_litellm_plugin.callback"]},
                "callback_settings": {
                    "luthien": {"policies": {"p": {"class": "block_tools", "options": {"tools": 3}}}}
                },
            }
        )
    )
    named = "callback_settings.luthien.policies.p.options.tools"
    assert named in luthien("check-config", str(config)).stderr
    env = {**cli_environment(), "LITELLM_MASTER_KEY": "sk-test-0123456789abcdef"}
    litellm = str(Path(sys.executable).parent / "litellm")
    proxy = subprocess.run(
        [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert proxy.returncode != 0 and named in proxy.stdout + proxy.stderr


def test_tail_prints_the_last_transactions_one_line_each(viewer_proxy: ViewerProxy) -> None:
    result = luthien("tail", "-n", "3", "--no-follow", *where(viewer_proxy))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    blocked = luthien("tail", "--since", "1h", "--status", "blocked", "--no-follow", *where(viewer_proxy)).stdout
    assert viewer_proxy.ids["blocked_response"][:12] in blocked and "strict_tools" in blocked
    assert viewer_proxy.ids["unchanged"][:12] not in blocked


@contextmanager
def following(*args: str, env: dict[str, str]) -> Iterator[queue.Queue[str]]:
    """`luthien tail` running; its stdout lines arrive on the queue. Yields once it follows."""
    process = subprocess.Popen(
        [LUTHIEN, "tail", "-n", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []], daemon=True).start()
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert "following" in banner, banner + (process.stderr.read() if process.poll() is not None else "")
        yield lines
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_for_line(lines: queue.Queue[str], needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"luthien tail never printed {needle!r}"
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if needle in line:
            return line


@pytest.mark.parametrize("feed", ["redis", "database"])
def test_tail_follows_new_transactions(viewer_proxy: ViewerProxy, feed: str) -> None:
    options = [*where(viewer_proxy), *(["--redis-url", viewer_proxy.redis_url] if feed == "redis" else [])]
    with following(*options, env=cli_environment()) as lines:
        transaction_id = new_transaction(viewer_proxy, f"follow me ({feed})")
        line = wait_for_line(lines, transaction_id[:12])
    assert "success" in line and "gpt-4o" in line and f"follow me ({feed})" in line


def test_show_prints_the_diff_and_timeline(viewer_proxy: ViewerProxy) -> None:
    blocked = luthien("show", viewer_proxy.ids["blocked_response"][:10], *where(viewer_proxy))
    assert blocked.returncode == 0, blocked.stderr
    out = blocked.stdout
    # tool calls are decided together once complete: the block came before any byte was served
    assert "status      blocked" in out and "REMOVED   bash" in out and "not delivered" in out
    assert "Blocked by policy 'strict_tools'" in out and "transaction.completed" in out
    changed = luthien("show", viewer_proxy.ids["uppercased"], *where(viewer_proxy)).stdout
    assert "[-Hello from the fake upstream-]{+HELLO FROM THE FAKE UPSTREAM+}" in changed
    judged = luthien("show", viewer_proxy.ids["judged"], *where(viewer_proxy)).stdout
    assert "Judge verdicts" in judged and "runs a destructive shell command" in judged
    same = luthien("show", viewer_proxy.ids["unchanged"], *where(viewer_proxy)).stdout
    assert "unchanged" in same and "[-" not in same
    as_json = json.loads(luthien("show", viewer_proxy.ids["judged"], "--json", *where(viewer_proxy)).stdout)
    assert as_json["transaction"]["transaction_id"] == viewer_proxy.ids["judged"]
    assert "policy.judge_verdict" in [event["event_type"] for event in as_json["events"]]


def test_show_an_unknown_transaction_is_a_clear_error(viewer_proxy: ViewerProxy) -> None:
    unknown = luthien("show", "0123456789abcdef", *where(viewer_proxy))
    assert unknown.returncode == 1
    assert (
        unknown.stderr.strip()
        == f"luthien: no transaction '0123456789abcdef' in sqlite {viewer_proxy.database_url[10:]}"
    )


def test_stats_summarises_the_window(viewer_proxy: ViewerProxy) -> None:
    table = luthien("stats", "--since", "1h", *where(viewer_proxy))
    assert table.returncode == 0, table.stderr
    assert "per policy" in table.stdout and "strict_tools" in table.stdout and "per model" in table.stdout
    summary = json.loads(luthien("stats", "--since", "1h", "--json", *where(viewer_proxy)).stdout)
    by_policy = {group["key"]: group for group in summary["by_policy"]}
    assert by_policy["strict_tools"]["blocked"] >= 1 and summary["totals"]["transactions"] >= 9
    bad = luthien("stats", "--since", "a while", *where(viewer_proxy))
    assert bad.returncode == 2 and "not a time" in bad.stderr


def test_export_writes_transactions_with_their_events(viewer_proxy: ViewerProxy, tmp_path: Path) -> None:
    out = tmp_path / "export.jsonl"
    result = luthien("export", "--since", "1h", "--format", "jsonl", "-o", str(out), *where(viewer_proxy))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    exported = {record["transaction"]["transaction_id"]: record for record in records}
    assert set(viewer_proxy.ids.values()) <= set(exported)
    blocked = exported[viewer_proxy.ids["blocked_response"]]
    assert blocked["transaction"]["original_response"]["choices"][0]["message"]["tool_calls"]
    assert [event["event_type"] for event in blocked["events"]][-1] == "transaction.completed"
    assert f"exported {len(records)} transactions" in result.stderr
    only = luthien("export", "--since", "1h", "--policy", "strict_tools", *where(viewer_proxy))
    assert [json.loads(line)["transaction"]["policy"] for line in only.stdout.splitlines()] == ["strict_tools"]
    assert viewer_proxy.master_key not in out.read_text()


@pytest.mark.parametrize(
    "command",
    [["stats"], ["show", "abc"], ["export"], ["tail", "--no-follow"]],
)
def test_an_unreachable_database_is_a_clear_error(command: list[str], tmp_path: Path) -> None:
    result = luthien(*command, "--database-url", UNREACHABLE_POSTGRES)
    assert result.returncode == 1
    assert result.stderr.startswith("luthien: cannot reach postgres postgresql://luthien:***@127.0.0.1:1/luthien")
    assert "Traceback" not in result.stderr and "pw@" not in result.stderr
    missing = luthien(*command, "--database-url", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 1 and "no recording database at" in missing.stderr
    wrong = luthien(*command, "--database-url", "mysql://x")
    assert wrong.returncode == 1 and "--database-url: database_url must start with" in wrong.stderr


def test_the_environment_and_config_defaults_apply_like_the_plugins(viewer_proxy: ViewerProxy, tmp_path: Path) -> None:
    by_env = luthien("stats", env=cli_environment(LUTHIEN_DATABASE_URL=viewer_proxy.database_url))
    assert by_env.returncode == 0 and "strict_tools" in by_env.stdout
    config = tmp_path / "litellm_config.yaml"
    config.write_text(yaml.safe_dump({"callback_settings": {"luthien": {"database_url": viewer_proxy.database_url}}}))
    by_config = luthien("stats", "--config", str(config))
    assert by_config.returncode == 0 and "strict_tools" in by_config.stdout
    (tmp_path / "work").mkdir()
    default = luthien("stats", cwd=tmp_path / "work")  # ./luthien.db, which is not there
    assert default.returncode == 1 and "no recording database at luthien.db" in default.stderr


def _spool_left_by_a_stopped_process(spool_dir: Path, sink: str, transaction: Recorded, rejected: Recorded) -> None:
    """A proxy process that spooled one batch (its database was down) and had one event rejected,
    then exited: its spool folder is left behind, unlocked."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from luthien_litellm_plugin.storage.spool import Spool\n"
        "from tests.integration.history.recorded import Recorded\n"
        "spool = Spool(Path(sys.argv[1]), sys.argv[2])\n"
        "spool.write(0, 'batch0', Recorded(transaction_id=sys.argv[3], started_at=float(sys.argv[5])).events())\n"
        "late = Recorded(transaction_id=sys.argv[4], started_at=float(sys.argv[5]))\n"
        "spool.reject(late.events(), 'IntegrityError: the schema was older')\n"
    )
    arguments = [str(spool_dir), sink, transaction.transaction_id, rejected.transaction_id, str(transaction.started_at)]
    subprocess.run([sys.executable, "-c", script, *arguments], check=True, env=cli_environment(), timeout=60)


def test_spool_shows_waiting_and_rejected_events_and_replays_them(tmp_path: Path) -> None:
    database = tmp_path / "luthien.db"
    spool_dir = tmp_path / "spool"
    spooled, rejected = Recorded(started_at=time.time()), Recorded(started_at=time.time())
    _spool_left_by_a_stopped_process(spool_dir, "sqlite", spooled, rejected)
    options = ["--spool-dir", str(spool_dir), "--database-url", f"sqlite:///{database}"]

    shown = luthien("spool", *options)
    assert shown.returncode == 0, shown.stderr
    assert "sqlite    3 events in 1 batches" in shown.stdout and "is gone" in shown.stdout
    assert "3 rejected" in shown.stdout and "3 × IntegrityError: the schema was older" in shown.stdout

    replayed = luthien("spool", "replay", "--rejected", *options)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # the spooled batch with the note that its process is gone (crash recovery), then the rejected events
    assert "sqlite: 4 written, 0 left" in replayed.stdout and "sqlite: 3 written, 0 left" in replayed.stdout
    database_url = f"sqlite:///{database}"
    assert "status      success" in luthien("show", spooled.transaction_id, "--database-url", database_url).stdout
    assert "status      success" in luthien("show", rejected.transaction_id, "--database-url", database_url).stdout
    after = luthien("spool", *options).stdout
    assert "no events waiting" in after and "rejected" not in after


def test_spool_replay_into_an_unreachable_database_keeps_everything(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    _spool_left_by_a_stopped_process(spool_dir, "postgres", Recorded(), Recorded())
    options = ["--spool-dir", str(spool_dir), "--database-url", UNREACHABLE_POSTGRES]
    result = luthien("spool", "replay", "--rejected", "--timeout", "2", *options)
    assert result.returncode == 1
    assert "postgres: 0 written, 4 left — postgres did not take the events within 2 s" in result.stdout  # + exit note
    assert "postgres: 0 written, 3 left — cannot write to postgres" in result.stdout
    shown = luthien("spool", *options).stdout
    assert "postgres  4 events in 2 batches" in shown and "3 rejected" in shown  # the batch + the exit note

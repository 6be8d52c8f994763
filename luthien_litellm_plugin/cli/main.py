"""The `luthien` command: argument parsing, where recordings are, and exit codes.

Every command takes `--database-url`, `--redis-url` (and `spool`, `--spool-dir`), defaulting as the
plugin does: a value given here, else `--config FILE`'s `callback_settings.luthien`, else the
`LUTHIEN_*` environment variables, else `./luthien.db` (SQLite) and `./luthien-spool`.
Exit codes: 0 fine, 1 a problem (bad config, unreachable database, unknown transaction), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from luthien_litellm_plugin.cli import follow as follow_command
from luthien_litellm_plugin.cli import spool as spool_command
from luthien_litellm_plugin.cli.export import export_jsonl
from luthien_litellm_plugin.cli.show import show_summary, show_transaction
from luthien_litellm_plugin.cli.terminal import Terminal, ms
from luthien_litellm_plugin.cli.where import StorageConfigError, option, storage_settings, yaml_key
from luthien_litellm_plugin.history.database import DatabaseUnavailable, open_database
from luthien_litellm_plugin.history.reader import MAX_PAGE, TransactionHistory, UnknownTransaction
from luthien_litellm_plugin.history.records import APIS, STATUSES, TransactionFilter
from luthien_litellm_plugin.history.timespec import TimeSpecError, iso, parse_time
from luthien_litellm_plugin.storage.settings import StorageSettings


class CommandError(Exception):
    """A problem to report in one line and exit 1 for."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CommandError, StorageConfigError, DatabaseUnavailable, UnknownTransaction) as problem:
        print(f"luthien: {problem}", file=sys.stderr)
        return 1
    except TimeSpecError as problem:
        parser.error(str(problem))
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="luthien",
        description="Inspect what the luthien plugin recorded: transactions, diffs, summaries, the spool.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check-config", help="validate the plugin's part of a litellm_config.yaml, as the proxy would"
    )
    check.add_argument("config", type=Path, help="the litellm_config.yaml to check")
    check.set_defaults(handler=_check_config)

    tail = commands.add_parser("tail", parents=[_where(), _filters()], help="follow transactions as they finish")
    tail.add_argument("-n", "--lines", type=int, default=10, help="recent transactions to show first (default 10)")
    tail.add_argument("--since", help="show every transaction started since (e.g. 10m) instead of the last N")
    tail.add_argument("--no-follow", action="store_true", help="print the recent ones and stop")
    tail.set_defaults(handler=_tail)

    show = commands.add_parser("show", parents=[_where()], help="one transaction: original vs final, timeline")
    show.add_argument("transaction_id", help="a transaction id (or a unique start of one)")
    show.add_argument("--json", action="store_true", help="print the recorded transaction as JSON")
    show.set_defaults(handler=_show)

    stats = commands.add_parser("stats", parents=[_where(), _filters()], help="per policy and per model summary")
    stats.add_argument("--since", default="1h", help="window start: 15m, 1h, 24h, 7d or a time (default 1h)")
    stats.add_argument("--until", help="window end (default now)")
    stats.add_argument("--json", action="store_true", help="print the summary as JSON")
    stats.set_defaults(handler=_stats)

    spool = commands.add_parser("spool", parents=[_where(spool=True)], help="spooled and rejected events; replay")
    spool.add_argument("action", nargs="?", choices=["show", "replay"], default="show")
    spool.add_argument("--rejected", action="store_true", help="replay: retry the rejected events too")
    spool.add_argument("--timeout", type=float, default=60.0, help="replay: seconds to wait for each store")
    spool.set_defaults(handler=_spool)

    export = commands.add_parser("export", parents=[_where(), _filters()], help="transactions with their events")
    export.add_argument("--since", default="24h", help="window start (default 24h)")
    export.add_argument("--until", help="window end (default now)")
    export.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format (default jsonl)")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.set_defaults(handler=_export)
    return parser


def _where(*, spool: bool = False) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("where recordings are (default: as the plugin)")
    group.add_argument(
        "--database-url", help="postgresql://… or sqlite:///path (default LUTHIEN_DATABASE_URL, ./luthien.db)"
    )
    group.add_argument("--redis-url", help="redis://… for the live feed (default LUTHIEN_REDIS_URL)")
    group.add_argument(
        "--config", type=Path, help="take the defaults from this litellm_config.yaml's callback_settings.luthien"
    )
    if spool:
        group.add_argument("--spool-dir", help="the plugin's spool folder (default LUTHIEN_SPOOL_DIR, ./luthien-spool)")
    return options


def _filters() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("filters")
    group.add_argument("--model", help="model group")
    group.add_argument("--policy", help="policy name")
    group.add_argument("--status", choices=STATUSES)
    group.add_argument("--api", help=f"client API ({', '.join(APIS)})")
    group.add_argument("--changed", action="store_true", default=None, help="only transactions a policy changed")
    group.add_argument("-q", "--search", help="free text in requests, responses and errors")
    return options


# -- where --------------------------------------------------------------------------------


def storage(args: argparse.Namespace) -> StorageSettings:
    """The plugin's storage settings: options, then --config, then the environment, then defaults."""
    database_url, redis_url, spool_dir = args.database_url, args.redis_url, getattr(args, "spool_dir", None)
    if args.config is None:
        return storage_settings(database_url, spool_dir, redis_url, given_as=option)
    from luthien_litellm_plugin.cli.check_config import configured_storage  # imports LiteLLM: only when needed
    from luthien_litellm_plugin.proxy.settings import ConfigError

    try:
        configured = configured_storage(args.config)
    except ConfigError as error:
        raise CommandError(str(error)) from error
    given = {"database_url": database_url, "spool_dir": spool_dir, "redis_url": redis_url}
    return storage_settings(
        database_url or configured[0],
        spool_dir or configured[1],
        redis_url or configured[2],
        given_as=lambda name: option(name) if given.get(name) else f"{args.config}: {yaml_key(name)}",
    )


def run(work: Callable[[TransactionHistory], Awaitable[int]], settings: StorageSettings) -> int:
    async def with_history() -> int:
        database = open_database(settings)
        try:
            return await work(TransactionHistory(database))
        finally:
            await database.aclose()

    return asyncio.run(with_history())


def transaction_filter(
    args: argparse.Namespace, *, since: float | None = None, until: float | None = None
) -> TransactionFilter:
    return TransactionFilter(
        model=args.model,
        policy=args.policy,
        status=args.status,
        api=args.api,
        since=since,
        until=until,
        text=args.search,
        changed=args.changed,
    )


# -- commands ------------------------------------------------------------------------------


def _check_config(args: argparse.Namespace) -> int:
    from luthien_litellm_plugin.cli.check_config import check_config  # imports LiteLLM: only when needed
    from luthien_litellm_plugin.proxy.settings import ConfigError

    try:
        checked = check_config(args.config)
    except ConfigError as error:
        raise CommandError(str(error)) from error
    out = Terminal.for_stream()
    for warning in checked.warnings:
        print(f"luthien: warning: {warning}", file=sys.stderr)
    settings = checked.config.settings
    out.line(f"{out.style('ok', 'green', 'bold')}: {args.config} — the plugin's settings and every policy are valid")
    configured = ", ".join(sorted(settings.policies)) or "none"
    out.line(f"  policies: {configured} (default: {settings.default_policy})")
    for model, policy in sorted(checked.policies_by_model.items()):
        out.line(f"  model {model} → {policy}")
    store = checked.storage
    database = store.sqlite_path if store.backend == "sqlite" else store.database_url
    out.line(
        f"  records to: {store.backend} {database}; live feed: {store.redis_url or 'off'}; spool: {store.spool_dir}"
    )
    out.line(f"  viewer: {'on, at /luthien/' if settings.viewer else 'off'}")
    return 0


def _tail(args: argparse.Namespace) -> int:
    settings = storage(args)
    now = time.time()
    since = parse_time(args.since, now) if args.since else None
    where = transaction_filter(args)
    out = Terminal.for_stream()

    async def work(history: TransactionHistory) -> int:
        recent = []
        if since is not None:
            recent = (await history.page(transaction_filter(args, since=since), limit=MAX_PAGE)).rows
        elif args.lines > 0:
            recent = (await history.page(where, limit=args.lines)).rows
        for row in reversed(recent):
            out.line(follow_command.line(out, row))
        if args.no_follow:
            return 0
        source = "the Redis feed" if settings.redis_url else "the database"
        print(f"luthien: following {source} (Ctrl-C to stop)", file=sys.stderr)
        async for row in follow_command.Follow(history, where, settings.redis_url, settings.redis_stream).rows():
            out.line(follow_command.line(out, row))
        return 0

    return run(work, settings)


def _show(args: argparse.Namespace) -> int:
    settings = storage(args)

    async def work(history: TransactionHistory) -> int:
        record = await history.get(await history.resolve(args.transaction_id))
        if args.json:
            print(json.dumps(record.to_json(), indent=2, ensure_ascii=False))
        else:
            show_transaction(Terminal.for_stream(), record)
        return 0

    return run(work, settings)


def _stats(args: argparse.Namespace) -> int:
    settings = storage(args)
    now = time.time()
    since = parse_time(args.since, now)
    until = parse_time(args.until, now) if args.until else now
    if until <= since:
        raise CommandError("--until must be after --since")

    async def work(history: TransactionHistory) -> int:
        summary = await history.summary(since, until, transaction_filter(args))
        if args.json:
            print(json.dumps(summary.to_json(), indent=2))
        else:
            show_summary(Terminal.for_stream(), summary, history.database.description)
        return 0

    return run(work, settings)


def _export(args: argparse.Namespace) -> int:
    settings = storage(args)
    now = time.time()
    where = transaction_filter(
        args, since=parse_time(args.since, now), until=parse_time(args.until, now) if args.until else None
    )

    async def work(history: TransactionHistory) -> int:
        if args.output in (None, "-"):
            transactions, events = await export_jsonl(history, where, sys.stdout)
        else:
            with open(args.output, "w", encoding="utf-8") as out:
                transactions, events = await export_jsonl(history, where, out)
        target = args.output if args.output not in (None, "-") else "standard output"
        print(f"luthien: exported {transactions} transactions ({events} events) to {target}", file=sys.stderr)
        return 0

    return run(work, settings)


def _spool(args: argparse.Namespace) -> int:
    settings = storage(args)
    root = Path(settings.spool_dir)
    out = Terminal.for_stream()
    if args.action == "replay":
        return _replay(out, settings, args)
    report = spool_command.inspect_spool(root)
    out.line(
        out.style(f"Spool {root}", "bold") + ("" if root.is_dir() else "  (does not exist: nothing was ever spooled)")
    )
    if not report.folders:
        out.line("  no events waiting")
    for folder in report.folders:
        owner = (
            f"process {folder.pid} is running and replays them itself"
            if folder.owner_running
            else f"process {folder.pid} is gone: the next start (or `luthien spool replay`) writes them"
        )
        oldest = (iso(folder.oldest) or "")[:19].replace("T", " ")
        out.line(f"  {folder.sink:<9} {folder.events} events in {folder.batches} batches since {oldest} UTC — {owner}")
    for rejected in report.rejected:
        out.line(f"  {rejected.sink:<9} {out.style(f'{rejected.count} rejected', 'red')} in {rejected.path}")
        for reason, count in sorted(rejected.reasons.items(), key=lambda item: -item[1])[:5]:
            out.line(f"      {count} × {reason}")
    if report.rejected:
        out.line("  `luthien spool replay --rejected` retries rejected events (e.g. after fixing the schema)")
    return 0


def _replay(out: Terminal, settings: StorageSettings, args: argparse.Namespace) -> int:
    root = Path(settings.spool_dir)
    report = spool_command.inspect_spool(root)
    sinks = sorted({folder.sink for folder in report.folders if not folder.owner_running})
    started = time.monotonic()
    results = asyncio.run(spool_command.replay_spool(settings, sinks, args.timeout))
    if args.rejected:
        results += asyncio.run(spool_command.replay_rejected(settings, sorted({r.sink for r in report.rejected})))
    if not results:
        out.line(f"nothing to replay in {root}")
    failed = False
    for result in results:
        status = out.style("ok", "green") if result.problem is None else out.style("problem", "red")
        out.line(f"  {status} {result.sink}: {result.written} written, {result.left} left — {result.problem or 'done'}")
        failed = failed or result.problem is not None
    out.line(f"  ({ms((time.monotonic() - started) * 1000)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

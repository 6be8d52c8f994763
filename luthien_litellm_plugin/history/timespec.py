"""Times as people type them: `15m`, `1h`, `7d` (ago), ISO 8601, or seconds since the epoch."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class TimeSpecError(ValueError):
    """Not a time or a duration this module understands; the message shows the accepted forms."""


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `1h`, `2d`, `1w` as seconds."""
    found = _DURATION.match(text)
    if found is None:
        raise TimeSpecError(f"not a duration: {text!r} (examples: 90s, 15m, 1h, 7d, 2w)")
    return float(found.group(1)) * _UNIT_SECONDS[found.group(2).lower()]


def parse_time(text: str, now: float) -> float:
    """Seconds since the epoch for `text`: a duration means that long before `now`; otherwise an
    ISO 8601 time (UTC unless it says otherwise) or a number of seconds since the epoch."""
    text = text.strip()
    if _DURATION.match(text):
        return now - parse_duration(text)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TimeSpecError(
            f"not a time: {text!r} (examples: 1h (ago), 2026-11-25T14:00, 2026-11-25T14:00:00+01:00, 1795000000)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso(seconds: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC with milliseconds (`2026-11-25T14:03:07.123Z`)."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

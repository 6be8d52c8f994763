from __future__ import annotations

import pytest

from luthien_litellm_plugin.history.timespec import TimeSpecError, iso, parse_duration, parse_time

NOW = 1_800_000_000.0


def test_durations_ago_times_and_epochs() -> None:
    assert parse_duration("90s") == 90 and parse_duration("1.5h") == 5400 and parse_duration("2W") == 1_209_600
    assert parse_time("15m", NOW) == NOW - 900
    assert parse_time("1795000000", NOW) == 1_795_000_000
    assert parse_time("2027-01-15T08:00:00Z", NOW) == parse_time("2027-01-15T09:00:00+01:00", NOW)
    assert parse_time("2027-01-15T08:00", NOW) == parse_time("2027-01-15T08:00:00+00:00", NOW)  # naive is UTC
    assert iso(NOW) == "2027-01-15T08:00:00.000Z"


@pytest.mark.parametrize("text", ["", "yesterday", "5 parsecs", "1y"])
def test_anything_else_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(TimeSpecError, match="examples"):
        parse_time(text, NOW)

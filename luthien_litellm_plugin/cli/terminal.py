"""Writing for a terminal: colours when stdout is one (and NO_COLOR is unset), plain text otherwise."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TextIO

from luthien_litellm_plugin.history.diff import Segment

_CODES = {
    "bold": "1",
    "dim": "2",
    "strike": "9",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "gray": "90",
}
STATUS_STYLE = {
    "success": "green",
    "blocked": "red",
    "error": "yellow",
    "timeout": "yellow",
    "cancelled": "gray",
    "started": "blue",
}


@dataclass(frozen=True)
class Terminal:
    out: TextIO
    color: bool

    @classmethod
    def for_stream(cls, out: TextIO | None = None) -> Terminal:
        stream = out or sys.stdout
        return cls(stream, stream.isatty() and "NO_COLOR" not in os.environ)

    def style(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def status(self, status: str, width: int = 0) -> str:
        return self.style(status.ljust(width), STATUS_STYLE.get(status, "bold"))

    def segments(self, segments: list[Segment]) -> str:
        """A word diff in one text: deletions `[-…-]` (red, struck through), insertions `{+…+}` (green)."""
        parts: list[str] = []
        for segment in segments:
            if segment.op == "equal":
                parts.append(segment.text)
            elif segment.op == "delete":
                parts.append(self.style(f"[-{segment.text}-]", "red", "strike"))
            else:
                parts.append(self.style(f"{{+{segment.text}+}}", "green"))
        return "".join(parts)


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.0f}%)" if part and whole else str(part)


def clip(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"

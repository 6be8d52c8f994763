"""The SQL that differs between SQLite and Postgres when reading recordings back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DialectName = Literal["postgres", "sqlite"]

PREVIEW_CHARS = 240


@dataclass(frozen=True)
class Dialect:
    """Table names, column expressions and placeholders of one database."""

    name: DialectName
    schema: str = "luthien"
    """Postgres schema of the tables (ignored by SQLite)."""

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}" if self.is_postgres else name

    def epoch(self, column: str) -> str:
        """A time column as seconds since the epoch (SQLite stores them so already)."""
        return f"extract(epoch FROM {column})::float8" if self.is_postgres else column

    def json_text(self, column: str) -> str:
        return f"{column}::text" if self.is_postgres else column

    def differs(self, left: str, right: str) -> str:
        """NULL-safe inequality (Postgres compares jsonb by value, SQLite the stored JSON text)."""
        return f"({left} IS DISTINCT FROM {right})" if self.is_postgres else f"({left} IS NOT {right})"

    @property
    def ilike(self) -> str:
        """Case-insensitive LIKE (SQLite's LIKE already is, for ASCII)."""
        return "ILIKE" if self.is_postgres else "LIKE"

    def request_changed(self) -> str:
        return self.differs("original_request", "final_request")

    def response_changed(self) -> str:
        return self.differs("original_response", "final_response")

    def changed(self) -> str:
        """The policy changed the request or the response."""
        return f"({self.request_changed()} OR {self.response_changed()})"

    def prompt_preview(self) -> str:
        """The start of the request's last message (chat and Anthropic `messages`, or Responses `input`)."""
        n = PREVIEW_CHARS
        if self.is_postgres:
            last = "original_request->'messages'->-1->'content'"
            return (
                f"CASE jsonb_typeof({last}) WHEN 'string' THEN left({last} #>> '{{}}', {n}) "
                f"WHEN 'array' THEN left({last}->0->>'text', {n}) "
                f"ELSE CASE jsonb_typeof(original_request->'input') "
                f"WHEN 'string' THEN left(original_request->>'input', {n}) END END"
            )
        last = "'$.messages[#-1].content'"
        return (
            f"CASE json_type(original_request, {last}) "
            f"WHEN 'text' THEN substr(json_extract(original_request, {last}), 1, {n}) "
            f"WHEN 'array' THEN substr(json_extract(original_request, '$.messages[#-1].content[0].text'), 1, {n}) "
            f"ELSE CASE json_type(original_request, '$.input') "
            f"WHEN 'text' THEN substr(json_extract(original_request, '$.input'), 1, {n}) END END"
        )

    def response_preview(self) -> str:
        """The start of the text the client received."""
        n = PREVIEW_CHARS
        if self.is_postgres:
            return f"left(final_response->'choices'->0->'message'->>'content', {n})"
        return f"substr(json_extract(final_response, '$.choices[0].message.content'), 1, {n})"

    def statement(self) -> Statement:
        return Statement(self)


@dataclass
class Statement:
    """Collects the parameters of one statement, handing out the dialect's placeholders."""

    dialect: Dialect
    params: list[object] = field(default_factory=list)

    def param(self, value: object) -> str:
        self.params.append(value)
        return "?" if not self.dialect.is_postgres else f"${len(self.params)}"

    def time(self, seconds: float) -> str:
        """A placeholder comparable with a time column."""
        placeholder = self.param(float(seconds))
        return f"to_timestamp({placeholder}::float8)" if self.dialect.is_postgres else placeholder


def like_pattern(text: str) -> str:
    """`%text%` for `LIKE … ESCAPE '!'`, with the pattern characters of `text` escaped."""
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"

"""Plain SQL migrations, one folder per dialect, applied in file-name order."""

from __future__ import annotations

from importlib import resources


def migration_files(dialect: str) -> list[tuple[str, str]]:
    """(version, sql) for every migration of `dialect`, in order."""
    folder = resources.files(__package__).joinpath(dialect)
    files = sorted((entry.name, entry) for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for name, entry in files]

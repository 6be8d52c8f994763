"""The viewer's two HTML pages, from files shipped in `viewer/static`, with escaped values."""

from __future__ import annotations

import functools
import html
from importlib import resources

STATIC_PACKAGE = "luthien_litellm_plugin.viewer"


@functools.cache
def _template(name: str) -> str:
    return resources.files(STATIC_PACKAGE).joinpath("static", name).read_text(encoding="utf-8")


def render(name: str, **values: str) -> str:
    """`name` with each `{{key}}` replaced by the HTML-escaped value."""
    page = _template(name)
    for key, value in values.items():
        page = page.replace("{{" + key + "}}", html.escape(value, quote=True))
    return page

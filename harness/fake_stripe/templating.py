"""Fill the HTML templates in `templates/`; values are escaped unless their name ends in `_html`.

Every page carries `templates/harness.css` as `$stylesheet_html`, so the harness's pages (the
checkout page, the inspector, the simulator's) look alike.
"""

from __future__ import annotations

import html
import string
from functools import cache
from importlib import resources
from typing import Any


def _text(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


@cache
def _template(name: str) -> string.Template:
    return string.Template(_text(name))


@cache
def stylesheet() -> str:
    """The CSS every harness page embeds (the checkout page's look)."""
    return _text("harness.css")


def render(name: str, **values: Any) -> str:
    """Substitute `$names` in template `name`, escaping every value not named `*_html`."""
    safe = {k: v if k.endswith("_html") else html.escape(str(v)) for k, v in values.items()}
    return _template(name).substitute({"stylesheet_html": stylesheet(), **safe})

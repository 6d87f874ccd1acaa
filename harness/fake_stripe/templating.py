"""Fill the HTML templates in `templates/`; values are escaped unless their name ends in `_html`."""

from __future__ import annotations

import html
import string
from functools import cache
from importlib import resources
from typing import Any


@cache
def _template(name: str) -> string.Template:
    text = resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    return string.Template(text)


def render(name: str, **values: Any) -> str:
    """Substitute `$names` in template `name`, escaping every value not named `*_html`."""
    safe = {k: v if k.endswith("_html") else html.escape(str(v)) for k, v in values.items()}
    return _template(name).substitute(safe)

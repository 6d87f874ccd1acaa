"""Command-line options handed on: a parsed command line's values, by the options' names.

Invariant: a keyword named like an option gets that option's parsed value, unchanged.
"""

from __future__ import annotations

import argparse
from typing import Any


def options_of(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The parsed values of the options `names` (`api_port` for `--api-port`), as keywords
    for a constructor whose parameters are named like the options."""
    return {name: getattr(args, name) for name in names}

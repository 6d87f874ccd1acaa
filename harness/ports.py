"""Ports on the loopback interface for the harness's three servers."""

from __future__ import annotations

import contextlib
import socket

HOST = "127.0.0.1"
EVERY_INTERFACE = ("0.0.0.0", "::")


def url_host(bind_host: str) -> str:
    """The host to put in URLs for servers bound to `bind_host` (loopback for every interface)."""
    return HOST if bind_host in EVERY_INTERFACE else bind_host


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether `port` on HOST can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def choose_port(requested: int | None, previous_url: str | None) -> int:
    """The requested port; by default the previous run's port when free, so URLs stay put.

    0 means any free port.
    """
    if requested is not None:
        return requested
    if previous_url:
        with contextlib.suppress(ValueError, IndexError):
            previous = int(previous_url.rsplit(":", 1)[1].split("/", 1)[0])
            if port_is_free(previous):
                return previous
    return 0

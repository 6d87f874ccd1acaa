"""Each worker listens on its own socket: the main process only holds the address, and Linux
spreads connections opened together over the workers (see `service.runtime.worker_sockets`)."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from pathlib import Path

import pytest

from service.runtime.worker_sockets import (
    balances_connections,
    is_reserved,
    listen_on_own_socket,
    reserve_address,
)
from tests.support.service_process import free_port

from .test_workers_share_state import both_serving, running

linux_only = pytest.mark.skipif(
    not balances_connections(), reason="SO_REUSEPORT spreads connections on Linux only"
)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


@linux_only
def test_the_reserved_address_takes_no_connection() -> None:
    port = free_port()
    with reserve_address("127.0.0.1", port) as reserved:
        assert is_reserved(reserved)
        with pytest.raises(ConnectionRefusedError):
            connect(port)


@linux_only
def test_a_worker_listens_on_its_own_socket_in_place_of_the_inherited_one() -> None:
    port = free_port()
    with reserve_address("127.0.0.1", port) as reserved:
        inherited = socket.socket(fileno=socket.dup(reserved.fileno()))  # as a worker gets it
        with inherited:
            listen_on_own_socket(inherited, backlog=8)
            assert not is_reserved(inherited)
            assert is_reserved(reserved)  # the main process's socket still only holds it
            with connect(port):
                accepted, _ = inherited.accept()
                accepted.close()


@linux_only
def test_connections_opened_together_are_spread_over_the_workers_sockets() -> None:
    port = free_port()
    with reserve_address("127.0.0.1", port) as reserved:
        workers = [socket.socket(fileno=socket.dup(reserved.fileno())) for _ in range(2)]
        for worker in workers:
            listen_on_own_socket(worker, backlog=64)
        clients = [connect(port) for _ in range(64)]
        try:
            taken = []
            for worker in workers:
                worker.setblocking(False)
                count = 0
                while True:
                    try:
                        accepted, _ = worker.accept()
                    except BlockingIOError:
                        break
                    accepted.close()
                    count += 1
                taken.append(count)
        finally:
            for client in clients + workers:
                client.close()
    # A hash of each connection's ports picks the socket: both get some (all 64 on one
    # socket has a chance of 2 in 2**64).
    assert sum(taken) == 64
    assert min(taken) > 0


def listening_sockets(port: int) -> set[int]:
    """The inodes of the sockets listening on `port` (Linux's /proc/net/tcp)."""
    inodes = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(int(fields[9]))
    return inodes


def sockets_of(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


@linux_only
def test_each_worker_listens_on_a_socket_of_its_own(tmp_path: Path) -> None:
    with running(tmp_path, rate_limit=100_000) as service:
        workers = both_serving(service)
        listening = listening_sockets(int(service.url.rsplit(":", 1)[1]))
        owned = {pid: sockets_of(pid) & listening for pid in workers}
    assert len(listening) == 2
    assert sorted(len(inodes) for inodes in owned.values()) == [1, 1]
    assert set.union(*owned.values()) == listening


@linux_only
def test_two_workers_share_connections_opened_at_once(tmp_path: Path) -> None:
    """32 connections opened before any request, as wrk or a proxy's pool opens them: with a
    shared socket, the first worker to wake could take them all."""
    with running(tmp_path, rate_limit=100_000) as service:
        both_serving(service)
        port = int(service.url.rsplit(":", 1)[1])
        clients = [connect(port) for _ in range(32)]
        request_ids = set()
        try:
            for client in clients:
                request_id = str(uuid.uuid4())
                request_ids.add(request_id)
                client.sendall(
                    b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"X-Request-ID: {request_id}\r\n\r\n".encode()
                )
            for client in clients:
                assert client.recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            for client in clients:
                client.close()
        pids = service.pids(request_ids)
        assert pids.keys() == request_ids
    assert len(pids) == 32
    per_worker = sorted(list(pids.values()).count(pid) for pid in set(pids.values()))
    # By a hash of the ports: fewer than 4 of 32 on a worker has a chance of about 1 in 200,000.
    assert len(per_worker) == 2, per_worker
    assert per_worker[0] >= 4, per_worker

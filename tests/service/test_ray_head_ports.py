"""The server's own Ray head is given ports that are free and distinct."""

from __future__ import annotations

import socket

from hpo.service._ray_jobs import LocalHead, free_ports


def test_ports_for_the_head_are_distinct_and_free() -> None:
    # Bound and closed one at a time, the kernel handed the same port to two of Ray's
    # components once in a CI run, and `ray start` refused to come up.
    for _ in range(20):
        ports = free_ports(len(LocalHead.PORTS))
        assert len(set(ports)) == len(ports)
        for port in ports:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))  # still free once chosen

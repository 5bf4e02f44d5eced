"""Running the explorer with uvicorn: in the foreground until Ctrl-C (`aelab serve`), or in a
background thread (tests and benchmarks), on a free port when port 0 is asked for."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from aelab.errors import AelabError
from aelab.serve.app import LOCAL_NAMES, create_app


def is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> list[str]:
    """Host header names to accept: the local names, plus the bound name; any for a wildcard bind."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    return [*LOCAL_NAMES, host, f"[{host}]"]


def url_of(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{port}/"


KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open after a response
REQUEST_DEADLINE = 10.0  # seconds a connection has to send a whole request (headers and body)


class Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that has not sent a whole request within
    REQUEST_DEADLINE seconds of opening or of its last response: a client that connects and sends
    nothing, or a byte now and then, no longer holds a slot for good."""

    deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:  # a request is being answered
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(REQUEST_DEADLINE, self._expire)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expire(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()


def connection_limit() -> int:
    """Connections (and requests) served at once before a 503: as many as this process's file
    descriptors allow with room to spare, at most 1000."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        soft = 1024
    return max(64, min(1000, (soft if soft > 0 else 1024) // 2))


class Server:
    """A uvicorn server for the runs under `roots`; `start()` runs it in a thread and returns when
    it accepts connections, `url` says where, `stop()` ends it. `trust_code`: import the network
    factories the runs name (`aelab serve --trust-code`); without it a run that names one is
    refused with one line (trust.py)."""

    def __init__(self, roots, host: str = "127.0.0.1", port: int = 8000, threads: int | None = None,
                 log_level: str = "warning", trust_code: bool = False):
        self.host = host
        app = create_app(roots, allowed_hosts(host), threads, trust_code)
        # h11 with a deadline for each request (Protocol): idle connections are closed instead of
        # holding the slots that limit_concurrency counts (250 of them made every request a 503).
        self.config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                                     lifespan="off", timeout_keep_alive=KEEP_ALIVE, http=Protocol,
                                     limit_concurrency=connection_limit(), h11_max_incomplete_event_size=64 * 1024)
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        for server in getattr(self.server, "servers", []):
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self.config.port

    @property
    def url(self) -> str:
        return url_of(self.host, self.port)

    def run(self) -> None:
        """Serve in this thread until Ctrl-C."""
        self.server.run()

    def start(self, timeout: float = 30.0) -> "Server":
        self._thread = threading.Thread(target=self.server.run, name="aelab-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise AelabError(f"the server did not start on {self.host}:{self.config.port} "
                                 "(is the port in use? try --port)")
            time.sleep(0.02)
        return self

    def wait(self) -> None:
        """Until the server thread ends (Ctrl-C arrives here as KeyboardInterrupt)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

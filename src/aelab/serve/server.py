"""Running the explorer with uvicorn: in the foreground until Ctrl-C (`aelab serve`), or in a
background thread (tests and benchmarks), on a free port when port 0 is asked for."""

from __future__ import annotations

import contextvars
import ipaddress
import threading
import time

import uvicorn

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


class Server:
    """A uvicorn server for the runs under `roots`; `start()` runs it in a thread and returns when
    it accepts connections, `url` says where, `stop()` ends it."""

    def __init__(self, roots, host: str = "127.0.0.1", port: int = 8000, threads: int | None = None,
                 log_level: str = "warning"):
        self.host = host
        app = create_app(roots, allowed_hosts(host), threads)
        self.config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                                     lifespan="off", timeout_keep_alive=30, limit_concurrency=200,
                                     h11_max_incomplete_event_size=64 * 1024)
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
        # In a copy of this context: the requests load runs under the caller's trust policy (trust.py).
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self.server.run,),
                                        name="aelab-serve", daemon=True)
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

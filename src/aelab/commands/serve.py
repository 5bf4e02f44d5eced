"""`aelab serve`: explore trained runs live in the browser (latent map, sliders, interpolation,
drawing and uploads, samples, run comparison)."""

from __future__ import annotations

import argparse
import errno
import logging
import socket
from pathlib import Path

from aelab.errors import AelabError
from aelab.layout import RUNS_ROOT

log = logging.getLogger("aelab")


def add_commands(sub) -> None:
    p = sub.add_parser("serve", help="explore trained runs live in the browser",
                       description="Start a local web app to explore the runs under the given folders "
                                   "(or single run folders): compare runs, move over the latent map and "
                                   "see the decoded image, scrub interpolations, draw or upload images; "
                                   "follow runs still training. Serves until Ctrl-C.")
    p.add_argument("paths", nargs="*", metavar="RUNS_DIR_OR_RUN", default=[RUNS_ROOT],
                   help="folders holding run folders, or run folders (default: runs)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    # The explorer's requests are small batches: one thread answers them fastest. With two, each
    # decode waits for the threads to meet, which on a busy 2-core CPU took 70 ms instead of 0.5 ms.
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads per request (default 1)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab.serve.catalog import Catalog
    from aelab.serve.server import Server, is_local

    for path in args.paths:
        if not Path(path).is_dir():
            raise AelabError(f"{path} is not a folder; give a folder of runs (e.g. runs) or a run folder")
    if not 0 <= args.port <= 65535:
        raise AelabError(f"--port {args.port}: give a port between 1 and 65535 (or 0 for a free one)")
    if args.threads < 1:
        raise AelabError(f"--threads {args.threads}: give 1 or more")
    _check_port(args.host, args.port)
    found = len(Catalog(args.paths).runs)
    if not is_local(args.host):
        log.warning("--host %s: the explorer is reachable from other machines; it has no login, and "
                    "anyone who can connect sees these runs", args.host)
    server = Server(args.paths, args.host, args.port, args.threads, trust_code=args.trust_code).start()
    where = ", ".join(args.paths)
    print(f"aelab: serving {found} run{'s' * (found != 1)} from {where} at {server.url} (Ctrl-C to stop)",
          flush=True)
    if found == 0:
        log.warning("no run folders under %s yet (a run folder holds config.json and, once trained, "
                    "model.safetensors); runs trained there later appear when the page is reloaded", where)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("aelab: stopped", flush=True)
    return 0


def _check_port(host: str, port: int) -> None:
    """Fail with one line before starting, not with the server's traceback."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise AelabError(f"port {port} on {host} is in use; choose another with --port") from None
            raise AelabError(f"--host {host}: cannot listen there ({e.strerror}); use 127.0.0.1 "
                             "or an address of this machine") from None

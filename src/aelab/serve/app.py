"""The explorer's web app: two static pages (runs, run) and a small JSON API over `Session`s,
plus what a run still training shows (live.py: its status and its latest snapshot).

Every error a request can cause is answered with a 4xx (5xx for a bug) and `{"error": "<one
line>"}`; the server keeps serving. Runs are named by catalog id only, pages come from a fixed
set of packaged files, and requests whose Host header is not the served one are refused (a web
page elsewhere cannot reach a server on 127.0.0.1 through DNS rebinding).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aelab import trust
from aelab.errors import AelabError
from aelab.serve import live
from aelab.serve import requests as rq
from aelab.serve.catalog import Catalog, history
from aelab.serve.pixels import pack
from aelab.serve.session import Session
from aelab.vocabulary import LATENT_MAP_METHODS

log = logging.getLogger(__name__)

OPEN_SESSIONS = 4  # runs kept loaded at once (each holds its data set)
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".png": "image/png"}
SECURITY_HEADERS = {
    # Nothing is fetched from elsewhere: no CDN, works offline, and no injected script can phone out.
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)


def api(handler):
    """Endpoint wrapper: expected failures -> 4xx with their one line; anything else -> 500, logged."""
    @functools.wraps(handler)
    async def endpoint(request: Request):
        try:
            result = await handler(request)
        except rq.BadRequest as e:
            return error(e.status, e.message)
        except AelabError as e:
            return error(400, str(e))
        except Exception as e:  # a bug: say so in one line and keep serving
            log.exception("internal error in %s", request.url.path)
            return error(500, f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return result if isinstance(result, Response) else JSONResponse(result, headers=SECURITY_HEADERS)
    return endpoint


class Explorer:
    """The state behind the routes: which runs exist and which are open."""

    def __init__(self, roots: list[str | Path], threads: int | None = None, trust_code: bool = False):
        self.catalog = Catalog(roots)
        self.threads = threads
        self.trust_code = trust_code
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._opening: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def folder(self, request: Request) -> tuple[str, Path]:
        run_id = request.query_params.get("run", "")
        if not run_id:
            raise rq.BadRequest(400, "say which run: ?run=<id> (the runs page lists them)")
        if len(run_id) > 512:
            raise rq.BadRequest(414, "the run id is too long")
        folder = self.catalog.folder(run_id)
        if folder is None:
            raise rq.BadRequest(404, f"no run '{run_id[:80]}' under the served folders; the runs page lists them")
        return run_id, folder

    def session(self, request: Request) -> Session:
        run_id, folder = self.folder(request)
        with self._lock:
            if run_id in self._sessions:
                self._sessions.move_to_end(run_id)
                return self._sessions[run_id]
            opening = self._opening.setdefault(run_id, threading.Lock())
        with opening:  # one thread opens a run; the others wait for it
            with self._lock:
                if run_id in self._sessions:
                    return self._sessions[run_id]
            # Never a factory a run names unless serve was started with --trust-code, whatever
            # this process has imported: the runs served may come from anywhere (trust.py).
            with trust.policy(everything=self.trust_code, imported=False):
                session = Session(folder, self.threads)
            with self._lock:
                self._sessions[run_id] = session
                while len(self._sessions) > OPEN_SESSIONS:
                    self._sessions.popitem(last=False)
                self._opening.pop(run_id, None)
            return session


def create_app(roots: list[str | Path], allowed_hosts: list[str] | None = None,
               threads: int | None = None, trust_code: bool = False) -> Starlette:
    """The app serving the runs under `roots`. `allowed_hosts`: Host header names to accept
    (default: the local names; ["*"] accepts any). `threads`: torch's intra-op threads once a run
    is open (None: leave them). `trust_code`: see Server."""
    explorer = Explorer(roots, threads, trust_code)
    pages = _static_files()

    async def session_of(request):
        return await run_in_threadpool(explorer.session, request)

    async def page(request: Request) -> Response:
        name = {"/": "runs.html", "/run": "run.html"}.get(request.url.path) or request.path_params["name"]
        if name not in pages:
            return error(404, f"no such file '{name[:80]}'")
        return Response(pages[name], media_type=STATIC_TYPES[Path(name).suffix], headers=SECURITY_HEADERS)

    @api
    async def runs(request):
        return {"runs": await run_in_threadpool(explorer.catalog.summaries)}

    @api
    async def run_history(request):
        run_id, folder = explorer.folder(request)
        return {"run": run_id, "history": await run_in_threadpool(history, folder)}

    @api
    async def status(request):
        run_id, folder = explorer.folder(request)
        since = rq.query_int(request, "since", 0)
        found = await run_in_threadpool(live.status, folder, since)
        return JSONResponse({"run": run_id, **found}, headers={**SECURITY_HEADERS, "cache-control": "no-store"})

    @api
    async def snapshot(request):
        run_id, folder = explorer.folder(request)
        epoch = rq.query_int(request, "epoch")
        png = await run_in_threadpool(live.snapshot_bytes, folder, epoch)
        if png is None:
            raise rq.BadRequest(404, f"run '{run_id[:80]}' has no snapshot of epoch {epoch} "
                                     "(training.snapshot_every saves them)")
        return Response(png, media_type="image/png", headers=SECURITY_HEADERS)

    @api
    async def info(request):
        session = await session_of(request)
        return {"run": explorer.folder(request)[0], **await run_in_threadpool(session.info)}

    @api
    async def latent_map(request):
        method = request.query_params.get("method", "auto")
        if method not in LATENT_MAP_METHODS:
            raise rq.BadRequest(400, f"unknown map method '{method[:40]}'; use auto, pca or tsne")
        session = await session_of(request)
        found = await run_in_threadpool(session.latent_map, method)
        return {k: v for k, v in found.items() if not k.startswith("_")}

    @api
    async def images(request):
        index = np.array(rq.query_int_list(request, "index"))
        session = await session_of(request)
        return {"index": index.tolist(), "images": pack(await run_in_threadpool(session.test_images, index))}

    @api
    async def code(request):
        ref = request.query_params.get("ref", "")
        if not ref or len(ref) > 64:
            raise rq.BadRequest(400, "give ?ref= a test-set index (12, #12) or a label")
        session = await session_of(request)

        def work():
            i = session.resolve(ref)
            return {"index": i, "label": session.describe(i), "code": rounded(session.test_codes(np.array([i]))[0])}
        return await run_in_threadpool(work)

    @api
    async def decode(request):
        body = await rq.parse(request, rq.DecodeBody)
        given = [k for k in ("points", "codes", "indices") if getattr(body, k) is not None]
        if len(given) != 1:
            raise rq.BadRequest(422, "give exactly one of points (on the map), codes (latent vectors) "
                                     "or indices (test images)")
        session = await session_of(request)

        def work():
            if body.points is not None:
                z = session.codes_at(np.array(body.points, np.float64), body.method)
            elif body.codes is not None:
                z = np.array(body.codes, dtype=np.float32) if _rectangular(body.codes) else None
                if z is None or z.shape[1] != session.ctx.latent_dim:
                    raise rq.BadRequest(422, f"codes must be lists of {session.ctx.latent_dim} numbers "
                                             "(this model's latent size)")
            else:
                z = session.test_codes(np.array(body.indices))
            out = {"codes": rounded(z), "images": pack(session.decode(z, body.label))}
            if body.method != "tsne":
                points = session.map_points(z, body.method)
                out["points"] = rounded(points)
            return out
        return await run_in_threadpool(work)

    @api
    async def interpolate(request):
        body = await rq.parse(request, rq.InterpolateBody)
        session = await session_of(request)

        def work():
            a, b = session.resolve(body.a), session.resolve(body.b)
            t = np.array(body.t if body.t is not None else np.linspace(0, 1, body.steps), np.float64)
            z = session.interpolation(a, b, t, body.method)
            return {"a": a, "b": b, "a_label": session.describe(a), "b_label": session.describe(b),
                    "t": t.round(4).tolist(), "images": pack(session.decode(z, body.label)),
                    "ends": pack(session.test_images(np.array([a, b]))),
                    "points": rounded(session.map_points(z))}
        return await run_in_threadpool(work)

    @api
    async def sample(request):
        body = await rq.parse(request, rq.SampleBody)
        session = await session_of(request)

        def work():
            z, source = session.sample(body.n, body.temperature, body.seed, body.sampler)
            images = session.decode(z, body.label)
            if body.label is not None:
                source = f"{source}, label {body.label}"
            return {"source": source, "codes": rounded(z), "images": pack(images)}
        return await run_in_threadpool(work)

    @api
    async def encode(request):
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if not kind.startswith("image/") and kind != "application/octet-stream":
            raise rq.BadRequest(415, "send the image file itself as the body (Content-Type: image/png, "
                                     "image/jpeg, ...)")
        label = request.query_params.get("label")  # a conditional model encodes with the chosen label
        if label is not None and not 1 <= len(label) <= 64:
            raise rq.BadRequest(400, "?label= must be one of the run's labels (1 to 64 characters)")
        data = await rq.read_body(request, rq.MAX_UPLOAD)
        if not data:
            raise rq.BadRequest(400, "the upload is empty; send an image file")
        session = await session_of(request)

        def work():
            image = session.preprocess(data)
            found = session.analyse(image, label)
            points = session.map_points(found["code"])
            return {"input": pack(image), "reconstruction": pack(found["reconstruction"]),
                    "code": rounded(found["code"][0]),
                    "point": None if points is None else rounded(points[0]),
                    "nearest": pack(found["nearest"]), "distance": rounded(found["distance"], 4),
                    "score": found["score"], "threshold": found["threshold"], "percentile": found["percentile"]}
        return await run_in_threadpool(work)

    async def not_found(request, exc):
        return error(exc.status_code, {404: f"no such page or API '{request.url.path[:80]}'",
                                       405: f"{request.method} is not allowed on {request.url.path[:80]}"}
                     .get(exc.status_code, str(exc.detail)))

    routes = [
        Route("/", page), Route("/run", page), Route("/static/{name}", page),
        Route("/api/runs", runs), Route("/api/history", run_history), Route("/api/info", info),
        Route("/api/status", status), Route("/api/snapshot", snapshot),
        Route("/api/map", latent_map), Route("/api/images", images), Route("/api/code", code),
        Route("/api/decode", decode, methods=["POST"]), Route("/api/interpolate", interpolate, methods=["POST"]),
        Route("/api/sample", sample, methods=["POST"]), Route("/api/encode", encode, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
    app.state.explorer = explorer
    return HostCheck(app, allowed_hosts or list(LOCAL_NAMES))


def rounded(values: np.ndarray | None, digits: int = 5):
    """Arrays as JSON lists without float32 noise (0.1 rather than 0.10000000149)."""
    return None if values is None else np.round(np.asarray(values, np.float64), digits).tolist()


def _rectangular(rows: list[list[float]]) -> bool:
    return len({len(r) for r in rows}) == 1


def _static_files() -> dict[str, bytes]:
    folder = resources.files("aelab.serve") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir() if Path(f.name).suffix in STATIC_TYPES}


class HostCheck:
    """ASGI middleware: refuse requests whose Host header names another server."""

    def __init__(self, app, allowed: list[str]):
        self.app = app
        self.allowed = {h.lower() for h in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "*" not in self.allowed:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed:
                response = error(400, f"the Host header '{host[:80]}' is not this server's; open the URL "
                                      "aelab serve printed")
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)

"""`aelab serve`'s API on real trained runs: what it returns is what the CLI's explore functions
compute (one code path per picture), for every kind of run; it only reads run folders; and bad
requests of every kind get a 4xx with one line while the server keeps serving."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aelab import explore
from aelab.cli import main
from aelab.explore.generate import sample_codes
from aelab.explore.latent_map import plane_for
from serve_runs import MODEL_TYPE_RUNS, RUNS

RUN_IDS = ["digits-dae-conv-16d", "digits-vae-2d", "emojis-rgb-betavae-16d"]
UNCONDITIONAL_TYPES = sorted(set(MODEL_TYPE_RUNS) - {"digits-cvae-2d"})  # iwae, beta_tcvae, vqvae, wae, vamp, vqvae_grid


class Client:
    """A keep-alive HTTP client on the test server."""

    def __init__(self, server):
        self.host, self.port = "127.0.0.1", server.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        for attempt in range(2):  # the server may close an idle keep-alive connection
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        if response.getheader("connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, {"raw": raw[:200]}

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, headers)


@pytest.fixture(scope="module")
def client(explorer_server):
    c = Client(explorer_server)
    yield c
    c.conn.close()


def unpack(packed: dict) -> np.ndarray:
    """The API's pixels -> (N, C, H, W) floats."""
    n, h, w, c = packed["shape"]
    return np.frombuffer(base64.b64decode(packed["data"]), np.uint8).reshape(n, h, w, c).transpose(0, 3, 1, 2) / 255.0


def png_bytes(image: np.ndarray) -> bytes:
    """(C, H, W) floats in [0, 1] -> a PNG file."""
    array = np.round(image * 255).astype(np.uint8)
    img = Image.fromarray(array[0]) if array.shape[0] == 1 else Image.fromarray(array.transpose(1, 2, 0))
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


# ---------------------------------------------------------------------------------- the runs

@pytest.mark.slow
def test_runs_page_lists_every_run_with_its_model_and_metrics(client):
    status, found = client.get("/api/runs")
    assert status == 200
    runs = {r["id"]: r for r in found["runs"]}
    assert sorted(runs) == sorted(RUNS)
    assert runs["digits-vae-2d"]["latent_dim"] == 2 and runs["digits-vae-2d"]["type"] == "vae"
    assert runs["digits-dae-conv-16d"]["architecture"] == "conv"
    assert runs["emojis-rgb-betavae-16d"]["dataset"] == "folder"
    for run in runs.values():
        assert np.isfinite(run["metrics"]["test_loss"]) and run["metrics"]["epochs_run"] >= 1
    status, history = client.get("/api/history?run=digits-vae-2d")
    epochs = runs["digits-vae-2d"]["metrics"]["epochs_run"]
    assert status == 200 and [row["epoch"] for row in history["history"]] == list(range(1, epochs + 1))
    assert all(np.isfinite(row["val_loss"]) for row in history["history"])


def test_pages_and_their_scripts_come_from_the_package(client, explorer_server):
    conn = http.client.HTTPConnection("127.0.0.1", explorer_server.port, timeout=10)
    for path, kind in [("/", "text/html"), ("/run?run=digits-vae-2d", "text/html"),
                       ("/static/run.js", "text/javascript"), ("/static/live.js", "text/javascript"),
                       ("/static/app.css", "text/css")]:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200 and response.getheader("content-type").startswith(kind), path
        assert "http://" not in body and "https://" not in body.replace("http://www.w3.org/2000/svg", ""), \
            f"{path} fetches something from elsewhere"
        assert "default-src 'self'" in response.getheader("content-security-policy")
    conn.close()


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_info_map_and_decoding_match_the_cli_explore_functions(client, serve_runs, run_id):
    ctx = explore.open_run(serve_runs / run_id)
    status, info = client.get(f"/api/info?run={run_id}")
    assert status == 200
    assert info["latent_dim"] == ctx.latent_dim and info["shape"] == list(ctx.model.input_shape)
    assert info["labelled"] == (ctx.test.labels is not None)
    status, found = client.get(f"/api/map?run={run_id}")
    assert status == 200 and len(found["points"]) == len(ctx.test)
    plane = plane_for(ctx.test_codes)
    np.testing.assert_allclose(found["points"], plane.to_map(ctx.test_codes), atol=2e-3)

    # a point on the map decodes to what the CLI's plane and decoder make of it
    points = [[0.3 * found["lo"][0] + 0.7 * found["hi"][0], 0.5 * (found["lo"][1] + found["hi"][1])],
              [found["lo"][0], found["lo"][1]]]
    status, decoded = client.post(f"/api/decode?run={run_id}", {"points": points})
    assert status == 200
    expected = ctx.decode(plane.to_latent(np.array(points)))
    np.testing.assert_allclose(unpack(decoded["images"]), expected, atol=1 / 255 + 1e-6)
    assert not np.allclose(unpack(decoded["images"])[0], unpack(decoded["images"])[1], atol=0.02), \
        "two far apart map points decoded to the same image"
    np.testing.assert_allclose(decoded["points"], points, atol=1e-3)  # and the point comes back

    # codes (the sliders) decode like the CLI's decoder
    z = ctx.test_codes[:3]
    status, decoded = client.post(f"/api/decode?run={run_id}", {"codes": z.tolist()})
    assert status == 200
    np.testing.assert_allclose(unpack(decoded["images"]), ctx.decode(z), atol=1 / 255 + 1e-6)


def test_a_tsne_map_decodes_test_images_but_not_points(client, serve_runs):
    ctx = explore.open_run(serve_runs / "emojis-rgb-betavae-16d")
    status, found = client.get("/api/map?run=emojis-rgb-betavae-16d&method=tsne")
    assert status == 200 and not found["invertible"] and found["axes"] == ["t-SNE 1", "t-SNE 2"]
    assert len(found["points"]) == len(ctx.test) and found["labels"] is None
    status, refused = client.post("/api/decode?run=emojis-rgb-betavae-16d", {"points": [[0, 0]], "method": "tsne"})
    assert status == 400 and "t-SNE" in refused["error"]
    status, decoded = client.post("/api/decode?run=emojis-rgb-betavae-16d", {"indices": [1], "method": "tsne"})
    assert status == 200 and "points" not in decoded
    np.testing.assert_allclose(unpack(decoded["images"]), ctx.decode(ctx.test_codes[1:2]), atol=1 / 255 + 1e-6)


def test_interpolation_and_references_as_the_cli_reads_them(client, serve_runs):
    ctx = explore.open_run(serve_runs / "digits-vae-2d")
    status, found = client.post("/api/interpolate?run=digits-vae-2d", {"a": "6", "b": "#3", "steps": 5})
    assert status == 200 and found["b"] == 3 and ctx.test.label_text(found["a"]) == "6"
    images, i, j = explore.interpolation(ctx, "6", "#3", steps=5)
    assert (i, j) == (found["a"], found["b"])
    np.testing.assert_allclose(unpack(found["images"]), images, atol=1 / 255 + 1e-6)
    np.testing.assert_allclose(unpack(found["ends"]), ctx.test_images([i, j]), atol=1 / 255 + 1e-6)
    # scrubbing: any t between the ends, linear or slerp
    status, half = client.post("/api/interpolate?run=digits-vae-2d",
                               {"a": "6", "b": "#3", "method": "slerp", "t": [0.0, 0.5, 1.0]})
    assert status == 200
    np.testing.assert_allclose(half["points"][0], ctx.test_codes[i], atol=1e-4)
    np.testing.assert_allclose(half["points"][2], ctx.test_codes[j], atol=1e-4)
    status, code = client.get("/api/code?run=digits-vae-2d&ref=%233")
    assert status == 200 and code["index"] == 3
    np.testing.assert_allclose(code["code"], ctx.test_codes[3], atol=1e-4)


def test_samples_follow_the_seed_and_the_temperature(client, serve_runs):
    ctx = explore.open_run(serve_runs / "emojis-rgb-betavae-16d")
    body = {"n": 6, "temperature": 0.5, "seed": 7}
    status, first = client.post("/api/sample?run=emojis-rgb-betavae-16d", body)
    _, again = client.post("/api/sample?run=emojis-rgb-betavae-16d", body)
    _, hotter = client.post("/api/sample?run=emojis-rgb-betavae-16d", {**body, "temperature": 2.0})
    assert status == 200 and "prior" in first["source"] and first["images"]["shape"] == [6, 24, 24, 3]
    assert first == again
    z, hot = np.array(first["codes"]), np.array(hotter["codes"])
    np.testing.assert_allclose(hot, 4 * z, atol=1e-3)  # same draws, 4x the spread
    np.testing.assert_allclose(unpack(first["images"]), ctx.decode(z), atol=1 / 255 + 1e-5)


def test_a_vae_also_samples_where_its_training_codes_lie_and_an_ae_has_no_prior(client, serve_runs):
    ctx = explore.open_run(serve_runs / "emojis-rgb-betavae-16d")
    status, info = client.get("/api/info?run=emojis-rgb-betavae-16d")
    assert info["samplers"] == ["prior", "gaussian", "gmm"]
    status, fitted = client.post("/api/sample?run=emojis-rgb-betavae-16d", {"n": 256, "sampler": "gaussian"})
    assert status == 200 and "training codes" in fitted["source"]
    z, codes = np.array(fitted["codes"]), ctx.train_codes
    spread = codes.std(0).mean()
    assert np.abs(z.mean(0) - codes.mean(0)).max() < 0.5 * spread + 0.05
    assert abs(z.std(0).mean() - spread) < 0.3 * spread
    status, info = client.get("/api/info?run=digits-dae-conv-16d")
    assert info["samplers"] == ["gaussian", "gmm"]
    status, refused = client.post("/api/sample?run=digits-dae-conv-16d", {"sampler": "prior"})
    assert status == 400 and "no prior" in refused["error"]


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_an_upload_is_preprocessed_encoded_and_placed_like_training_data(client, serve_runs, run_id):
    ctx = explore.open_run(serve_runs / run_id)
    train_image = ctx.train.subset(np.array([5])).floats()[0]
    status, found = client.post(f"/api/encode?run={run_id}", png_bytes(train_image), {"Content-Type": "image/png"})
    assert status == 200, found
    np.testing.assert_allclose(unpack(found["input"])[0], train_image, atol=1 / 255 + 1e-6)
    np.testing.assert_allclose(found["code"], ctx.encode(train_image[None])[0], atol=2e-2)
    assert found["distance"][0] < 0.01  # its nearest training image is itself
    np.testing.assert_allclose(unpack(found["nearest"])[0], train_image, atol=1 / 255 + 1e-6)
    assert found["point"] is not None and len(found["point"]) == 2

    # a picture of another size is sized like the data; an odd one scores as more anomalous
    c, h, w = ctx.model.input_shape
    odd = np.kron(1 - train_image, np.ones((1, 3, 3)))  # the negative, three times as large
    status, strange = client.post(f"/api/encode?run={run_id}", png_bytes(odd), {"Content-Type": "image/png"})
    assert status == 200 and strange["input"]["shape"] == [1, h, w, c]
    assert strange["score"] > found["score"] and strange["percentile"] > found["percentile"]


@pytest.mark.parametrize("run_id", UNCONDITIONAL_TYPES)
def test_every_model_type_maps_decodes_interpolates_samples_and_encodes_as_the_cli(client, serve_runs, run_id):
    ctx = explore.open_run(serve_runs / run_id)
    status, info = client.get(f"/api/info?run={run_id}")
    assert status == 200 and info["type"] == ctx.model.config.type and info["latent_dim"] == ctx.latent_dim
    assert not info["conditional"] and info["labels"] == []
    assert info["samplers"] == ["prior", "gaussian", "gmm"]  # each of these types has a prior
    status, found = client.get(f"/api/map?run={run_id}")
    assert status == 200 and len(found["points"]) == len(ctx.test)
    plane = plane_for(ctx.test_codes)
    points = [[found["lo"][0], found["lo"][1]], [found["hi"][0], found["hi"][1]]]
    status, decoded = client.post(f"/api/decode?run={run_id}", {"points": points})
    assert status == 200
    np.testing.assert_allclose(unpack(decoded["images"]), ctx.decode(plane.to_latent(np.array(points))),
                               atol=1 / 255 + 1e-6)
    z = ctx.test_codes[:2]  # the sliders
    status, decoded = client.post(f"/api/decode?run={run_id}", {"codes": z.tolist()})
    np.testing.assert_allclose(unpack(decoded["images"]), ctx.decode(z), atol=1 / 255 + 1e-6)
    status, strip = client.post(f"/api/interpolate?run={run_id}", {"a": "1", "b": "7", "steps": 4})
    images, i, j = explore.interpolation(ctx, "1", "7", steps=4)
    assert status == 200 and (strip["a"], strip["b"]) == (i, j)
    np.testing.assert_allclose(unpack(strip["images"]), images, atol=1 / 255 + 1e-6)
    # the codes `aelab generate --sampler` draws (fitting a mixture takes a while: on one run only)
    for sampler in info["samplers"] if run_id == "digits-wae-2d" else ["prior", "gaussian"]:
        status, drawn = client.post(f"/api/sample?run={run_id}", {"n": 4, "seed": 3, "temperature": 0.8,
                                                                 "sampler": sampler})
        expected, source = sample_codes(ctx, 4, 0.8, 3, sampler)
        assert status == 200 and drawn["source"] == source
        np.testing.assert_allclose(drawn["codes"], expected, atol=1e-4)
        np.testing.assert_allclose(unpack(drawn["images"]), ctx.decode(expected), atol=1 / 255 + 1e-5)
    train_image = ctx.train.subset(np.array([5])).floats()[0]
    status, upload = client.post(f"/api/encode?run={run_id}", png_bytes(train_image), {"Content-Type": "image/png"})
    assert status == 200 and upload["distance"][0] < 0.01 and np.isfinite(upload["score"])
    np.testing.assert_allclose(upload["code"], ctx.encode(train_image[None])[0], atol=2e-2)
    status, refused = client.post(f"/api/decode?run={run_id}", {"codes": z.tolist(), "label": "3"})
    assert status == 400 and "only a conditional model" in refused["error"]


def test_a_conditional_model_decodes_samples_interpolates_and_encodes_with_the_chosen_label(client, serve_runs):
    run = "digits-cvae-2d"
    ctx = explore.open_run(serve_runs / run)
    status, info = client.get(f"/api/info?run={run}")
    assert status == 200 and info["conditional"] and info["labels"] == [str(d) for d in range(10)]
    assert info["samplers"] == ["prior", "gaussian", "gmm"]
    z = ctx.test_codes[:3]
    status, refused = client.post(f"/api/decode?run={run}", {"codes": z.tolist()})
    assert status == 400 and "with a label" in refused["error"] and "0, 1, 2" in refused["error"]
    status, refused = client.post(f"/api/decode?run={run}", {"codes": z.tolist(), "label": "x"})
    assert status == 400 and "not a label of this run" in refused["error"]

    status, threes = client.post(f"/api/decode?run={run}", {"codes": z.tolist(), "label": "3"})
    _, eights = client.post(f"/api/decode?run={run}", {"codes": z.tolist(), "label": "8"})
    assert status == 200
    np.testing.assert_allclose(unpack(threes["images"]), ctx.decode(z, np.full(3, 3)), atol=1 / 255 + 1e-6)
    assert np.abs(unpack(threes["images"]) - unpack(eights["images"])).mean() > 0.02, "the label changed nothing"

    status, strip = client.post(f"/api/interpolate?run={run}", {"a": "#0", "b": "#1", "t": [0, 0.5, 1], "label": "5"})
    za, zb = ctx.test_codes[0], ctx.test_codes[1]
    path = np.stack([za, (za + zb) / 2, zb])
    assert status == 200
    np.testing.assert_allclose(unpack(strip["images"]), ctx.decode(path, np.full(3, 5)), atol=1 / 255 + 1e-5)

    status, drawn = client.post(f"/api/sample?run={run}", {"n": 4, "seed": 2, "sampler": "gaussian", "label": "7"})
    expected, source = sample_codes(ctx, 4, 1.0, 2, "gaussian")
    assert status == 200 and drawn["source"] == f"{source}, label 7"
    np.testing.assert_allclose(unpack(drawn["images"]), ctx.decode(expected, np.full(4, 7)), atol=1 / 255 + 1e-5)

    # an upload is encoded (and decoded) with the chosen label
    k = 5
    image, label = ctx.train.subset(np.array([k])).floats()[0], int(ctx.train.labels[k])
    other = (label + 1) % 10
    answers = {}
    for given in (label, other):
        status, answers[given] = client.post(f"/api/encode?run={run}&label={given}", png_bytes(image),
                                             {"Content-Type": "image/png"})
        assert status == 200, answers[given]
        np.testing.assert_allclose(answers[given]["code"], ctx.encode(image[None], np.array([given]))[0], atol=2e-2)
    assert answers[label]["code"] != answers[other]["code"]
    status, refused = client.post(f"/api/encode?run={run}", png_bytes(image), {"Content-Type": "image/png"})
    assert status == 400 and "label" in refused["error"]


def test_a_photo_in_rgb_with_transparency_is_read_for_a_grey_model(client, serve_runs):
    rgba = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (10, 5, 30, 25))
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    status, found = client.post("/api/encode?run=digits-vae-2d", buffer.getvalue(), {"Content-Type": "image/png"})
    assert status == 200 and found["input"]["shape"] == [1, 8, 8, 1]


def test_serving_only_reads_the_run_folders(client, serve_runs):
    before = snapshot(serve_runs)
    for run_id in RUNS:
        client.get(f"/api/map?run={run_id}&method=pca")
        label = {"label": "1"} if run_id == "digits-cvae-2d" else {}
        assert client.post(f"/api/sample?run={run_id}", {"n": 2, **label})[0] == 200
    assert snapshot(serve_runs) == before


# ------------------------------------------------------------------------------------ safety

BAD = [  # (method, path, body, headers, expected status)
    ("GET", "/api/info", None, {}, 400),
    ("GET", "/api/info?run=../digits-vae-2d", None, {}, 404),
    ("GET", "/api/info?run=%2Fetc%2Fpasswd", None, {}, 404),
    ("GET", "/api/info?run=digits-vae-2d%2F..%2F..", None, {}, 404),
    ("GET", "/static/..%2F..%2Fcli.py", None, {}, 404),
    ("GET", "/static/../app.py", None, {}, 404),
    ("GET", "/nothing/here", None, {}, 404),
    ("DELETE", "/api/runs", None, {}, 405),
    ("GET", "/api/map?run=digits-vae-2d&method=umapx", None, {}, 400),
    ("GET", "/api/images?run=digits-vae-2d&index=99999", None, {}, 400),
    ("GET", "/api/images?run=digits-vae-2d&index=a,b", None, {}, 400),
    ("GET", "/api/images?run=digits-vae-2d&index=" + ",".join(["1"] * 300), None, {}, 413),
    ("GET", "/api/code?run=digits-vae-2d&ref=nope", None, {}, 400),
    ("POST", "/api/decode?run=digits-vae-2d", b"{not json", {"Content-Type": "application/json"}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", b'{"points": [[NaN, 1]]}', {"Content-Type": "application/json"}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", {"points": [[1e400, 1]]}, {}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", {"points": [[1, 2, 3]]}, {}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", {"codes": [[1, 2, 3]]}, {}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", {"codes": [[1, 2], [1]]}, {}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", {"codes": [[0, 0]] * 1000}, {}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", {"points": [[0, 0]], "codes": [[0, 0]]}, {}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", {"pointz": [[0, 0]]}, {}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", {"indices": [-5]}, {}, 400),
    ("POST", "/api/decode?run=digits-vae-2d", [1, 2], {}, 422),
    ("POST", "/api/decode?run=digits-vae-2d", b"points=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("POST", "/api/decode?run=digits-vae-2d", b"x" * 70_000, {"Content-Type": "application/json"}, 413),
    ("POST", "/api/interpolate?run=digits-vae-2d", {"a": "6", "b": "0", "steps": 1}, {}, 422),
    ("POST", "/api/interpolate?run=digits-vae-2d", {"a": "6", "b": "0", "method": "cubic"}, {}, 422),
    ("POST", "/api/interpolate?run=digits-vae-2d", {"a": "6", "b": "#4000"}, {}, 400),
    ("POST", "/api/sample?run=digits-vae-2d", {"n": 0}, {}, 422),
    ("POST", "/api/sample?run=digits-vae-2d", {"temperature": -1}, {}, 422),
    ("POST", "/api/encode?run=digits-vae-2d", b"not an image at all", {"Content-Type": "image/png"}, 400),
    ("POST", "/api/encode?run=digits-vae-2d", b"", {"Content-Type": "image/png"}, 400),
    ("POST", "/api/encode?run=digits-vae-2d", b"\x89PNG\r\n", {"Content-Type": "text/plain"}, 415),
    ("POST", "/api/encode?run=digits-vae-2d", b"x" * 9_000_000, {"Content-Type": "image/png"}, 413),
    ("GET", "/api/runs", None, {"Host": "evil.example:8000"}, 400),
    ("GET", "/api/status?run=digits-vae-2d&since=x", None, {}, 400),
    ("GET", "/api/status?run=../digits-vae-2d", None, {}, 404),
    ("GET", "/api/snapshot?run=digits-vae-2d&epoch=../../config.json", None, {}, 400),
    ("GET", "/api/snapshot?run=digits-vae-2d&epoch=1", None, {}, 404),  # trained without snapshots
]


@pytest.mark.parametrize("method,path,body,headers,expected", BAD, ids=[f"{m} {p[:50]}" for m, p, *_ in BAD])
def test_a_bad_request_gets_a_4xx_and_one_line(client, method, path, body, headers, expected):
    status, found = client.request(method, path, body, headers)
    assert status == expected, found
    assert isinstance(found.get("error"), str) and found["error"] and "\n" not in found["error"]
    assert "Traceback" not in found["error"]


def test_a_huge_picture_is_refused_before_it_is_decoded(client):
    big = Image.new("L", (5000, 5000))  # 25 megapixels, a small PNG
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    status, found = client.post("/api/encode?run=digits-vae-2d", buffer.getvalue(), {"Content-Type": "image/png"})
    assert status == 400 and "megapixels" in found["error"]


@pytest.mark.slow
def test_thousands_of_malformed_requests_and_the_server_still_answers(client, explorer_server):
    rng = np.random.default_rng(0)
    start = time.monotonic()
    statuses = []
    for k in range(2500):
        method, path, body, headers, _ = BAD[k % len(BAD)]
        if k % 5 == 0:  # random JSON-ish bytes
            body, headers = bytes(rng.integers(0, 256, rng.integers(1, 200), dtype=np.uint8)), {"Content-Type": "application/json"}
            method, path = "POST", "/api/decode?run=digits-vae-2d"
        if isinstance(body, bytes) and len(body) > 100_000:
            body = body[:100_000]
        status, found = client.request(method, path, body, headers)
        statuses.append(status)
        assert 400 <= status < 500, (k, method, path, found)
    for k in range(100):  # garbage that is not HTTP at all, and requests cut short
        with socket.create_connection(("127.0.0.1", explorer_server.port), timeout=10) as sock:
            sock.sendall(bytes(rng.integers(0, 256, 300, dtype=np.uint8)) if k % 2 else
                         b"POST /api/decode?run=digits-vae-2d HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1000)
    took = time.monotonic() - start
    assert took < 120, f"2600 malformed requests took {took:.0f} s"
    status, found = client.post("/api/decode?run=digits-vae-2d", {"points": [[0, 0]]})
    assert status == 200 and found["images"]["shape"] == [1, 8, 8, 1]


# ----------------------------------------------------------------------------------- the CLI

def test_serve_refuses_a_missing_folder_and_a_busy_port_in_one_line(tmp_path, capsys, serve_runs, explorer_server):
    assert main(["serve", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a folder" in err
    assert main(["serve", str(serve_runs), "--port", str(explorer_server.port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"port {explorer_server.port}" in err and "--port" in err


@pytest.mark.slow
def test_serve_command_prints_the_url_warns_off_localhost_and_stops_on_ctrl_c(serve_runs):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "aelab", "serve", str(serve_runs), "--host", "0.0.0.0",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert f"serving {len(RUNS)} runs" in line and "http://127.0.0.1:" in line, line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/runs")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped" in out
    assert "reachable from other machines" in err and "Traceback" not in err


def test_runs_of_the_same_name_in_two_sweeps_say_which_sweep_they_come_from(tmp_path):
    """aelab serve sweeps/A/runs sweeps/B/runs: not runs/X and runs/X~, but A/runs/X and B/runs/X,
    each with its folder (issue 27)."""
    import shutil

    from aelab.config import load_config
    from aelab.experiments.train_run import train_run
    from aelab.serve.catalog import Catalog

    trained = tmp_path / "trained"
    train_run(load_config(None, ["data.limit=100", "training.epochs=1"]), trained, progress=False, figures=False)
    for sweep in ("A", "B"):
        shutil.copytree(trained, tmp_path / "sweeps" / sweep / "runs" / "latent_dim=2")
    roots = [tmp_path / "sweeps" / "A" / "runs", tmp_path / "sweeps" / "B" / "runs"]
    found = {r["id"]: r for r in Catalog(roots).summaries()}
    assert sorted(found) == ["A/runs/latent_dim=2", "B/runs/latent_dim=2"]
    for sweep in ("A", "B"):
        assert found[f"{sweep}/runs/latent_dim=2"]["folder"] == str(roots["AB".index(sweep)].resolve() / "latent_dim=2")
    # The same folder named twice is listed once; one root alone keeps the short names.
    assert sorted(Catalog([roots[0], roots[0]]).runs) == ["latent_dim=2"]
    # Roots told apart by their last part keep just that part.
    assert sorted(Catalog([tmp_path / "sweeps" / "A", tmp_path / "sweeps" / "B"]).runs) == \
        ["A/runs/latent_dim=2", "B/runs/latent_dim=2"]

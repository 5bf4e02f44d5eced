"""How fast `aelab serve` answers a pointer move: the round trip from a point on the latent map to
the decoded image, for the default models, measured against a real `aelab serve` process.

    .venv/bin/python bench/serve_latency.py              # ~1 min on 2 cores, most of it start-up
    .venv/bin/python bench/serve_latency.py -n 500 --no-browser

Three runs are trained for one epoch each (speed does not depend on how well a model is trained;
the architecture is the default's): the default job (a 2-D VAE on the 8x8 digits), seed 002's
conv AE on MNIST 28x28 (16-D) and seed 004's RGB 64x64 VAE (16-D, 512-256-128). For each, N
requests are sent one after the other on one keep-alive connection, as the page does (it keeps one
decode in flight): one map point each (decode + PCA inverse + JSON), one 16-code batch each, and
a slider move (a full code). With Chromium and Playwright present, the pointer is also moved
over the default run's map N times, each time waiting until the new image is painted; the page
records pointer-event-to-painted time (window.aelabStats).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# MNIST's test files where any config finds them (the dataset lookup order), never a fixed folder.
MNIST = next((p for p in [*([Path(os.environ["AELAB_DATA_DIR"]) / "mnist"] if os.environ.get("AELAB_DATA_DIR") else []),
                          Path.home() / ".cache" / "aelab" / "mnist", Path("/usr/share/datasets/mnist")]
              if (p / "t10k-images-idx3-ubyte.gz").is_file()), None)
RUNS = {
    "default (digits 8x8, VAE 2-D, MLP)": [],
    "seed 002 (MNIST 28x28, conv AE 16-D)": [
        "data.dataset=mnist", f"data.path={MNIST}", "data.published_split=test", "data.limit=2000",
        "model.type=ae", "model.architecture=conv", "model.conv_channels=[8,16,32]", "model.conv_dense=64",
        "model.latent_dim=16", "model.activation=tanh", "model.reconstruction_loss=mse"],
    "seed 004 (emojis 64x64 RGB, VAE 16-D, MLP)": ["--config", str(ROOT / "examples/seed004_emojis.json")],
}


def aelab(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "aelab", *args], env=env, check=True, **kw)


def train(folder: Path) -> dict[str, str]:
    names = {}
    for k, (label, spec) in enumerate(RUNS.items()):
        if "mnist" in " ".join(spec) and MNIST is None:
            print(f"skipping {label}: no MNIST test set on this machine", file=sys.stderr)
            continue
        config = spec[:2] if spec[:1] == ["--config"] else []
        overrides = [s for s in spec if s not in config]
        sets = [a for o in overrides + ["training.epochs=1"] for a in ("--set", o)]
        aelab("-q", "train", *config, *sets, "--no-progress", "--no-figures", "--out", str(folder / f"run{k}"),
              stdout=subprocess.DEVNULL)
        names[label] = f"run{k}"
    return names


def start_server(folder: Path) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "aelab", "serve", str(folder), "--port", "0"],
                            stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    return proc, int(line.split("http://127.0.0.1:")[1].split("/")[0])


def timed(conn: http.client.HTTPConnection, method: str, path: str, body=None) -> float:
    start = time.perf_counter()
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {data[:200]}")
    return elapsed


def summary(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"{statistics.median(ms):.1f} | {q[18]:.1f}"


def http_rows(port: int, names: dict[str, str], n: int) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    rows = []
    for label, run in names.items():
        info = json.loads(_get(conn, f"/api/info?run={run}"))
        found = json.loads(_get(conn, f"/api/map?run={run}"))  # opens the run: not timed
        lo, hi = found["lo"], found["hi"]
        k = info["latent_dim"]
        for warm in range(10):
            timed(conn, "POST", f"/api/decode?run={run}", {"points": [[lo[0], lo[1]]]})
        point, batch, slider = [], [], []
        for i in range(n):
            f = (i % 97) / 97
            p = [lo[0] + f * (hi[0] - lo[0]), lo[1] + (1 - f) * (hi[1] - lo[1])]
            point.append(timed(conn, "POST", f"/api/decode?run={run}", {"points": [p]}))
            batch.append(timed(conn, "POST", f"/api/decode?run={run}", {"points": [p] * 16}))
            slider.append(timed(conn, "POST", f"/api/decode?run={run}", {"codes": [[f - 0.5] * k]}))
        shape = "x".join(map(str, info["shape"][1:])) + ("x3" if info["shape"][0] == 3 else "")
        rows.append(f"| {label} | {shape} | {summary(point)} | {summary(slider)} | {summary(batch)} |")
    conn.close()
    return rows


def _get(conn, path: str) -> bytes:
    conn.request("GET", path)
    return conn.getresponse().read()


def browser_row(port: int, run: str, n: int) -> str | None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(chromium).is_file():
        return None
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        page.goto(f"http://127.0.0.1:{port}/run?run={run}")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        box = page.locator("#map").bounding_box()
        for i in range(n + 10):
            f = 0.1 + 0.8 * (i % 89) / 89
            before = page.evaluate("window.aelabStats.decodes")
            page.mouse.move(box["x"] + f * box["width"], box["y"] + (1 - f) * box["height"])
            while page.evaluate("window.aelabStats.decodes") == before:
                time.sleep(0.001)
        ms = page.evaluate("window.aelabStats.latencies")[10:]
        browser.close()
    return f"| pointer move -> painted image, in Chromium (default run) | {summary(ms)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="requests per kind and run (default 300)")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = train(folder)
        proc, port = start_server(folder)
        try:
            rows = http_rows(port, names, args.n)
            browser = None if args.no_browser else browser_row(port, names[next(iter(RUNS))], args.n)
        finally:
            proc.terminate()
            proc.wait()
    cpu = _cpu()
    print(f"\n`aelab serve` round trips, {args.n} sequential requests per column, ms ({cpu}):\n")
    print("| run | image | one map point: median | p95 | a slider move (full code): median | p95 "
          "| 16 points at once: median | p95 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    if browser:
        print("\n| in the browser | median | p95 |\n|---|---|---|\n" + browser)


def _cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    return f"{model}, {os.cpu_count()} cores, avx512_bf16: {'yes' if 'avx512_bf16' in info else 'no'}"


if __name__ == "__main__":
    main()

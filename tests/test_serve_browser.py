"""`aelab serve` in a real browser: headless Chromium (Debian's `chromium` package) driven by
Playwright. The pages must load with no script error and fetch nothing from elsewhere, the
decoded image must follow the pointer and the sliders, and an uploaded or drawn image must come
back reconstructed; a run still training is followed live, then explored. The README's
screenshots come from here:

    AELAB_SCREENSHOT=docs/img/serve.png AELAB_SCREENSHOT_LIVE=docs/img/serve_live.png \
        pytest -q tests/test_serve_browser.py
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from serve_runs import RUNS

from aelab.layout import HISTORY
from aelab.serve import Server
from test_serve_live import start_training, wait_for_epochs

CHROMIUM = next((p for p in [os.environ.get("AELAB_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), "/usr/bin/chromium"] if p and Path(p).is_file()), None)
if CHROMIUM is None:
    pytest.skip("no chromium executable (Debian: apt-get install chromium; or set AELAB_CHROMIUM)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra: pip install -e '.[test]'")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, explorer_server):
    """A fresh page; every console error, page error and request to another host fails the test."""
    with watched_page(browser, explorer_server) as page:
        yield page


@contextlib.contextmanager
def watched_page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 1500})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith(server.url) else problems.append(f"fetched {r.url}"))
    page.set_default_timeout(20_000)
    page.expected_errors = []  # console lines a test provokes on purpose
    try:
        yield page
    finally:
        context.close()
    problems = [p for p in problems if not any(e in p for e in page.expected_errors)]
    assert not problems, problems


def canvas_pixels(page, selector: str) -> np.ndarray:
    data = page.evaluate("""sel => { const c = document.querySelector(sel);
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""", selector)
    return np.array(data, np.uint8)


def open_run(page, server, run_id: str):
    page.goto(f"{server.url}run?run={run_id}")
    page.wait_for_selector("body[data-ready='1']")


def wait_until(page, predicate: str, arg=None, timeout: float = 20.0) -> None:
    """Poll a JS function in the page (wait_for_function would eval a string, which the
    explorer's Content-Security-Policy forbids, as it should)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        page.wait_for_timeout(20)


def decodes(page) -> int:
    return page.evaluate("window.aelabStats.decodes")


@pytest.mark.slow
def test_runs_page_sorts_and_compares(page, explorer_server):
    page.goto(explorer_server.url)
    rows = page.locator("#runs tbody tr")
    rows.first.wait_for()
    assert rows.count() == len(RUNS)

    def latent_sizes():  # the fixture runs are named by their latent size: ...-2d, ...-16d
        return [int(name.rsplit("-", 1)[1][:-1]) for name in page.locator("#runs tbody td:nth-child(2)").all_inner_texts()]
    page.click("th[data-key='latent_dim']")
    assert latent_sizes() == sorted(latent_sizes()) and latent_sizes()[0] == 2
    page.click("th[data-key='latent_dim']")
    assert latent_sizes() == sorted(latent_sizes(), reverse=True) and latent_sizes()[0] == 16
    assert page.is_disabled("#compare")
    boxes = page.locator("#runs tbody input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#compare")
    page.wait_for_selector("#comparison:not([hidden])")
    assert page.locator("#curves polyline.curve").count() == 4  # validation and training, per run
    assert page.locator("#metrics tr:first-child th").count() == 3  # a label column + two runs
    assert "test loss" in page.locator("#metrics").inner_text()


def test_the_decoded_image_follows_the_pointer_and_a_screenshot(page, explorer_server):
    page.goto(explorer_server.url)
    page.click("text=digits-vae-2d")
    page.wait_for_selector("body[data-ready='1']")
    box = page.locator("#map").bounding_box()
    seen = []
    for fx, fy in [(0.25, 0.3), (0.75, 0.7)]:
        before = decodes(page)
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        wait_until(page, "n => window.aelabStats.decodes > n", before)
        seen.append(canvas_pixels(page, "#decoded"))
    assert seen[0].shape == (8 * 8 * 4,)
    assert np.abs(seen[0].astype(int) - seen[1].astype(int)).mean() > 5, "the decoded image did not change"
    assert page.locator("#map-note").inner_text() == "(z[0], z[1])"
    assert "10" not in page.locator("#legend").inner_text() and "9" in page.locator("#legend").inner_text()
    # click two points: the interpolation strip between them, and its scrub slider
    page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.click(box["x"] + 0.7 * box["width"], box["y"] + 0.7 * box["height"])
    wait_until(page, "() => document.querySelectorAll('#strip figure').length === 13")
    assert page.input_value("#from").startswith("#") or page.input_value("#to").startswith("#")
    before = canvas_pixels(page, "#scrubbed")
    page.locator("#scrub").fill("0")
    wait_until(page, "() => document.getElementById('scrub-caption').textContent === 't=0.00'")
    assert np.abs(canvas_pixels(page, "#scrubbed").astype(int) - before.astype(int)).mean() > 1
    # the samples are there
    assert page.locator("#samples canvas").count() == 16
    shot = os.environ.get("AELAB_SCREENSHOT")
    if shot:
        page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.4 * box["height"])
        page.wait_for_timeout(300)
        png = page.screenshot(clip={"x": 0, "y": 0, "width": 1280, "height": 1020})
        small = Image.open(io.BytesIO(png)).convert("RGB").quantize(128, method=Image.Quantize.FASTOCTREE)
        small.save(shot, optimize=True)  # ~30 kB


def test_a_slider_decodes_a_16d_code(page, explorer_server):
    open_run(page, explorer_server, "digits-dae-conv-16d")
    sliders = page.locator("#sliders input[type=range]")
    assert sliders.count() == 16
    page.fill("#reset-ref", "#0")
    before_count = decodes(page)
    page.click("#reset")
    wait_until(page, "n => window.aelabStats.decodes > n", before_count)
    before = canvas_pixels(page, "#decoded")
    box = sliders.nth(3).bounding_box()
    before_count = decodes(page)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    wait_until(page, "n => window.aelabStats.decodes > n", before_count)
    page.wait_for_timeout(200)  # the last pending decode
    after = canvas_pixels(page, "#decoded")
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1, "dragging a slider did not change the image"
    assert page.locator("#map-note").inner_text().startswith("(PCA of 16-D codes")


@pytest.mark.slow
def test_drawing_on_a_grey_run_shows_its_reconstruction(page, explorer_server):
    open_run(page, explorer_server, "digits-vae-2d")
    pad = page.locator("#pad").bounding_box()
    page.mouse.move(pad["x"] + 0.5 * pad["width"], pad["y"] + 0.15 * pad["height"])
    page.mouse.down()
    page.mouse.move(pad["x"] + 0.5 * pad["width"], pad["y"] + 0.85 * pad["height"], steps=8)
    page.mouse.up()  # a "1"
    page.wait_for_selector("#upload-result:not([hidden])")
    drawn = canvas_pixels(page, "#upload-input").reshape(8, 8, 4)[..., 0]
    assert drawn[1:-1, 3:5].max(1).min() > 150 and drawn[:, :2].max() < 30  # white ink down the middle, on black
    assert "anomaly score" in page.locator("#anomaly").inner_text()


def test_an_uploaded_rgb_image_comes_back_reconstructed(page, explorer_server, tmp_path):
    open_run(page, explorer_server, "emojis-rgb-betavae-16d")
    assert page.locator("#legend").inner_text() == "unlabelled data"
    assert page.locator("#draw-box").is_hidden()  # drawing is for grey data
    assert "prior" in page.inner_text("#sample-source")
    assert page.locator("#label-box").is_hidden()  # only a conditional model has a label picker
    page.select_option("#sampler", "gaussian")  # one of the beta-VAE's other samplers
    wait_until(page, "() => document.getElementById('sample-source').textContent.includes('training codes')")
    assert page.locator("#samples canvas").count() == 16
    picture = tmp_path / "upload.png"
    Image.new("RGB", (48, 40), (230, 40, 40)).save(picture)
    page.set_input_files("#upload", str(picture))
    page.wait_for_selector("#upload-result:not([hidden])")
    seen = canvas_pixels(page, "#upload-input").reshape(24, 24, 4)
    assert abs(int(seen[12, 12, 0]) - 230) <= 2 and abs(int(seen[12, 12, 1]) - 40) <= 2  # as sent, resized
    recon = canvas_pixels(page, "#upload-recon").reshape(24, 24, 4)
    assert recon[..., :3].std() > 1  # a real reconstruction, not an empty canvas
    assert page.locator("#nearest canvas").count() == 5
    # a bad upload: one clear message on the page, and the page keeps working
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a picture")
    page.expected_errors.append("status of 400")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "not a readable image" in page.inner_text("#error")


def test_a_conditional_models_label_picker_changes_what_is_decoded(page, explorer_server, tmp_path):
    open_run(page, explorer_server, "digits-cvae-2d")
    assert page.locator("#label-box").is_visible()
    assert page.locator("#label option").all_inner_texts() == [str(d) for d in range(10)]
    page.select_option("#label", "1")
    page.wait_for_timeout(300)  # what the change redraws
    before, samples_before = canvas_pixels(page, "#decoded"), page.inner_text("#sample-source")
    count = decodes(page)
    page.select_option("#label", "8")
    wait_until(page, "n => window.aelabStats.decodes > n", count)
    wait_until(page, "() => document.getElementById('sample-source').textContent.includes('label 8')")
    after = canvas_pixels(page, "#decoded")
    assert "label 1" in samples_before
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1, "picking another label did not change the image"
    # an upload is encoded with the picked label
    picture = tmp_path / "seven.png"
    Image.new("L", (8, 8), 0).save(picture)
    with page.expect_request(lambda r: "/api/encode" in r.url) as sent:
        page.set_input_files("#upload", str(picture))
    assert "label=8" in sent.value.url
    page.wait_for_selector("#upload-result:not([hidden])")


@pytest.mark.slow
def test_a_run_still_training_is_followed_live_then_opens_in_the_explorer(browser, tmp_path):
    """A real `aelab train` in a child process: the runs page shows it with a "training" badge; its
    page shows the epoch, the time left, the loss curves and the latest snapshot, and becomes the
    full explorer by itself when training ends."""
    root = tmp_path / "runs"
    proc = start_training(root, "digits-live", "training.epochs=80", "training.snapshot_every=5")
    server = Server([root], port=0).start()
    try:
        wait_for_epochs(root / "digits-live" / HISTORY, 1, proc)
        with watched_page(browser, server) as page:
            page.goto(server.url)
            page.wait_for_selector("#runs tbody tr .badge.training")
            page.click("text=digits-live")
            page.wait_for_selector("body[data-live='training']")
            assert page.locator("#explorer").is_hidden() and page.locator("#live").is_visible()
            wait_until(page, "() => document.querySelectorAll('#live-curves polyline.curve').length === 2")
            wait_until(page, "() => document.getElementById('live-progress').textContent.includes('left')")
            progress = page.inner_text("#live-progress")
            epoch = int(progress.split()[1])
            assert 1 <= epoch <= 80 and "of 80" in progress, progress
            latest = page.inner_text("#live-latest")
            assert "loss" in latest and "kl" in latest and "validation" in latest, latest
            wait_until(page, "() => document.getElementById('live-snapshot').naturalWidth > 0")
            assert page.get_attribute("#live-snapshot", "src").startswith("/api/snapshot?run=digits-live&epoch=")
            shot = os.environ.get("AELAB_SCREENSHOT_LIVE")
            if shot:
                png = page.screenshot(clip={"x": 0, "y": 0, "width": 1280, "height": 620})
                Image.open(io.BytesIO(png)).convert("RGB").quantize(128, method=Image.Quantize.FASTOCTREE).save(shot, optimize=True)
            # the curves grow while it trains
            wait_until(page, "n => Number(document.getElementById('live-progress').textContent.split(' ')[1]) > n", epoch)
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)  # the explorer, by itself
            assert page.locator("#live").is_hidden() and page.locator("#map").is_visible()
            assert page.locator("#samples canvas").count() == 16 and "data-live" not in page.inner_html("html")[:300]
            page.goto(server.url)
            page.locator("#runs tbody tr").first.wait_for()
            assert page.locator("#runs tbody .badge").count() == 0
    finally:
        proc.kill()
        proc.communicate()
        server.stop()

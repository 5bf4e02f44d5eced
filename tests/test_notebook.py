"""aelab in Jupyter: docs/tutorials/notebook.ipynb runs in a real kernel (nbclient) without an
error and shows a progress-bar widget, the fitted estimator's HTML page and inline PNG figures; a
run folder's page holds its own metrics and figures, every text escaped; an estimator's figures
are the run folder's, pixel for pixel; and none of it needs Jupyter at run time."""

from __future__ import annotations

import base64
import io
import json
import math
import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pytest
from ipykernel.kernelspec import install as install_kernel
from nbclient import NotebookClient
from PIL import Image
from sklearn.datasets import load_digits

import aelab
from aelab.config import load_config
from aelab.experiments.train_run import train_run

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorials" / "notebook.ipynb"
PNG = b"\x89PNG\r\n\x1a\n"
KERNEL = "aelab-test"
JUPYTER = ("IPython", "ipykernel", "ipywidgets", "nbclient", "nbformat")


class Page(HTMLParser):
    """An HTML page's tags, text, table cells (row by row) and inlined PNG images."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.text, self.rows, self.images = [], [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        src = dict(attrs).get("src") or ""
        if tag == "img":
            assert src.startswith("data:image/png;base64,"), src[:60]  # inlined: no file beside the notebook
            self.images.append(base64.b64decode(src.split(",", 1)[1]))

    def handle_data(self, data):
        self.text.append(data)
        if self.rows and self.tags[-1] in ("td", "th"):
            self.rows[-1].append(data)

    def row(self, name: str) -> list[str]:
        return next(r for r in self.rows if r and r[0] == name)


def picture(png: bytes) -> np.ndarray:
    assert png.startswith(PNG)
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def executed(tmp_path_factory, monkeypatch_module):
    """The tutorial notebook, run as CI runs it: a real kernel, 5 epochs instead of the page's 30."""
    monkeypatch_module.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it: one core, as the suite uses
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = "epochs = 5"
    folder = tmp_path_factory.mktemp("notebook")
    # a kernel of this very interpreter (a "python3" kernel installed elsewhere may lack aelab)
    install_kernel(kernel_name=KERNEL, prefix=str(folder / "jupyter"))
    monkeypatch_module.setenv("JUPYTER_PATH", str(folder / "jupyter" / "share" / "jupyter"))
    NotebookClient(nb, timeout=120, kernel_name=KERNEL, resources={"metadata": {"path": str(folder)}}).execute()
    return nb


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def outputs(nb, text: str) -> list[dict]:
    """The outputs of the code cell whose source contains `text`."""
    return next(c for c in nb.cells if c.cell_type == "code" and text in c.source).outputs


@pytest.mark.slow  # a kernel's start, torch's import and 5 epochs: ~15 s
def test_the_notebook_runs_in_a_kernel_with_a_progress_widget_html_and_inline_figures(executed):
    fit = outputs(executed, "vae.fit(X)")
    # tqdm.auto drew its bar as a Jupyter widget (ipywidgets), not as text
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in fit)
    html = next(o["data"]["text/html"] for o in fit if "text/html" in o.get("data", {}))
    page = Page(html)
    assert "VAE, latent size 2 (fitted in Python)" in "".join(page.text)
    train, validation = page.row("train"), page.row("validation")
    header = page.row("split")
    loss = float(train[header.index("loss")])
    # 5 epochs learn something: below what predicting 0.5 for each of 64 pixels costs (64 ln 2 per image)
    assert 0 < loss < 64 * math.log(2) and math.isfinite(float(validation[header.index("loss")]))
    assert len(page.images) == 2  # the loss curve and the reconstructions
    loss_curve, strip = map(picture, page.images)
    assert strip.shape[1] > strip.shape[0] and loss_curve.std() > 0 and strip.std() > 0
    for cell in ("plot_reconstructions", "plot_samples", "plot_latent_map"):
        images = [o["data"]["image/png"] for o in outputs(executed, f"vae.{cell}(") if "image/png" in o.get("data", {})]
        assert len(images) == 1, cell  # shown once, inline
        assert picture(base64.b64decode(images[0])).std() > 0, cell


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A run folder of `aelab train`, named with characters HTML must escape."""
    run = tmp_path_factory.mktemp("runs") / "digits<b>&amp;vae"
    config = load_config(None, ["data.dataset=digits", "data.limit=300", "model.encoder_layers=[32]",
                                "training.epochs=3", "training.threads=1"])
    train_run(config, run, progress=False)
    return run


def test_a_run_folder_shows_its_own_metrics_and_figures_with_every_text_escaped(vae_run):
    vae = aelab.load(vae_run)
    html = vae._repr_mimebundle_()["text/html"]
    page = Page(html)
    assert "b" not in page.tags  # the folder's name is text, not markup
    assert "run folder digits<b>&amp;vae" in "".join(page.text)
    metrics = json.loads((vae_run / "metrics.json").read_text())
    header, test = page.row("split"), page.row("test")
    assert float(test[header.index("loss")]) == pytest.approx(metrics["test"]["loss"], rel=1e-3)
    assert page.images == [(vae_run / "loss.png").read_bytes(), (vae_run / "reconstruction.png").read_bytes()]
    assert len(vae.history_) == 3


def test_an_estimators_figures_are_the_run_folders_pixel_for_pixel(vae_run):
    vae = aelab.load(vae_run)
    for figure, name in ((vae.plot_reconstructions(), "reconstruction.png"), (vae.plot_samples(), "samples.png"),
                         (vae.plot_loss(), "loss.png"), (vae.plot_traversal(), "latent_traversal.png")):
        np.testing.assert_array_equal(picture(figure._repr_png_()), picture((vae_run / name).read_bytes()), name)


def test_a_model_file_has_no_history_and_an_unfitted_estimator_keeps_scikit_learns_page(vae_run, tmp_path):
    vae = aelab.load(aelab.load(vae_run).save(tmp_path / "vae.safetensors"))
    with pytest.raises(aelab.AelabError, match=r"no training history .*load its run folder"):
        vae.plot_loss()
    with pytest.raises(aelab.AelabError, match=r"plot_latent_map\(\) needs images: pass X"):
        vae.plot_latent_map()
    assert picture(vae.plot_samples(8)._repr_png_()).std() > 0  # sampling needs no images
    assert "sk-" in aelab.VAE()._repr_html_()  # scikit-learn's diagram of the parameters
    # a run folder's model fitted anew is no longer that run: its page and figures are the new fit's
    refit = aelab.load(vae_run).set_params(epochs=1, validation_split=0.0)
    refit.fit(load_digits().images[:100] / 16)
    assert "(fitted in Python)" in refit._repr_html_() and refit.n_epochs_ == 1
    assert picture(refit.plot_reconstructions()._repr_png_()).std() > 0  # the training images fit() kept


@pytest.mark.slow  # a fresh interpreter importing torch and scikit-learn
def test_jupyter_is_an_extra_not_a_dependency(tmp_path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = " ".join(project["dependencies"]).lower()
    assert not any(m.lower() in names for m in JUPYTER)
    assert {"ipykernel", "ipywidgets"} <= {d.split(">")[0] for d in project["optional-dependencies"]["notebook"]}
    # fitting, drawing and the HTML page load nothing of Jupyter
    code = ("import sys, json, numpy as np, aelab\n"
            "x = np.random.default_rng(0).random((40, 16)).astype('float32')\n"
            "vae = aelab.VAE(encoder_layers=[8], epochs=1, threads=1).fit(x)\n"
            "vae._repr_html_(); vae.plot_samples(4)._repr_png_()\n"
            f"print(json.dumps([m for m in {JUPYTER!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow  # ~2.5 s on a shared machine
def test_a_conditional_models_figures_and_page(tmp_path):
    digits = load_digits()
    cvae = aelab.Estimator(model_type="cvae", encoder_layers=[32], epochs=2, threads=1)
    cvae.fit(digits.images[:300] / 16, digits.target[:300])
    assert len(Page(cvae._repr_html_()).images) == 2  # its reconstructions decode with the kept images' labels
    samples = cvae.plot_samples(8)  # the run folder's label-by-sample grid: a row per digit
    assert "rows = labels (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)" in samples.axes[0].get_title()
    assert picture(samples._repr_png_()).std() > 0
    assert picture(cvae.plot_latent_map(digits.images[:300] / 16, digits.target[:300])._repr_png_()).std() > 0
    with pytest.raises(aelab.AelabError, match="decodes only with a label, so it has no traversal"):
        cvae.plot_traversal(digits.images[:50] / 16, digits.target[:50])


def test_every_progress_bar_is_tqdm_auto():
    """tqdm.auto draws a widget in Jupyter and text in a terminal; plain tqdm draws text everywhere."""
    import ast

    src = Path(aelab.__file__).parent
    plain = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) else []
            plain += [f"{path.relative_to(src)}:{node.lineno}" for m in modules
                      if m and m.split(".")[0] == "tqdm" and m != "tqdm.auto"]
    assert not plain, plain


def test_a_figure_of_bad_images_is_one_error_as_transform_gives(tmp_path):
    """plot_* checked X less than transform(): NaN pixels drew a figure of NaN without a word."""
    X = load_digits().images[:200] / 16
    vae = aelab.VAE(latent_dim=2, seed=0).fit(X, epochs=1)
    with pytest.raises(aelab.AelabError, match="NaN or infinity"):
        vae.plot_reconstructions(np.full((3, 8, 8), np.nan))
    with pytest.raises(aelab.AelabError, match=r"scale them to \[0, 1\]"):
        vae.plot_latent_map(X * 16)
    with pytest.raises(aelab.AelabError, match="expecting 64 features"):
        vae.plot_traversal(np.zeros((3, 5, 5)))
    with pytest.raises(aelab.AelabError, match="n = 0: ask for at least 1 sample"):
        vae.plot_samples(n=0)

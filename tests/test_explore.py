"""Exploring trained runs: real small models on the digits and the font, each command's output
checked for what it must show (ends, centres, frame counts), bad input for one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from aelab import explore
from aelab.cli import main
from aelab.config import load_config
from aelab.errors import AelabError
from aelab.explore import refs
from aelab.explore.traverse import rows as traversal_rows
from aelab.models.inference import reconstruct
from aelab.experiments.train_run import train_run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A 2-D VAE on sklearn's digits, trained briefly, with snapshots and figures."""
    run = tmp_path_factory.mktemp("digits-vae")
    config = load_config(None, ["data.dataset=digits", "model.latent_dim=2", "model.encoder_layers=[64]",
                                "training.epochs=4", "training.snapshot_every=2", "training.batch_size=64",
                                "training.threads=1"])
    train_run(config, run, progress=False)
    return run


@pytest.fixture(scope="module")
def font_run(tmp_path_factory):
    """A 3-D plain AE on the 32 glyphs of the 5x7 font (test set = training set): binary data,
    labels that are characters, and a latent space above 2-D."""
    run = tmp_path_factory.mktemp("font-ae")
    config = load_config(None, ["data.dataset=font5x7", "data.test_split=0", "model.type=ae",
                                "model.latent_dim=3", "model.encoder_layers=[32]", "training.epochs=60",
                                "training.batch_size=8", "training.validation_split=0", "training.threads=1"])
    train_run(config, run, progress=False, figures=False)
    return run


@pytest.fixture(scope="module")
def digits(digits_run):
    return explore.open_run(digits_run)


@pytest.fixture(scope="module")
def font(font_run):
    return explore.open_run(font_run)


def frames_of(path) -> int:
    with Image.open(path) as im:
        return im.n_frames


# ----------------------------------------------------------------------------- references

@pytest.mark.slow
def test_refs_labels_win_over_indices_and_hash_forces_an_index(digits, font):
    assert refs.parse_ref(digits, "6").label == "6"
    assert refs.parse_ref(digits, "#6").index == 6
    assert refs.parse_ref(digits, "-1").index == len(digits.test) - 1
    assert refs.parse_ref(font, "a").label == "a"
    assert refs.parse_ref(font, "3").index == 3  # the font has no digit labels
    typical = refs.image_index(digits, refs.parse_ref(digits, "6"))
    assert digits.test.label_text(typical) == "6"


@pytest.mark.parametrize("text, message", [("100000", "out of range"), ("zz", "neither"), ("label:x", "not a label")])
def test_bad_refs_say_what_is_wrong(digits, text, message):
    with pytest.raises(AelabError, match=message):
        refs.parse_ref(digits, text)


# ------------------------------------------------------------------------------ commands

def test_interpolation_ends_are_the_endpoints_reconstructions(digits, tmp_path):
    for method in ("linear", "slerp"):
        images, i, j = explore.interpolation(digits, "6", "0", steps=7, method=method)
        assert images.shape == (7, 1, 8, 8)
        ends = reconstruct(digits.model, digits.test_images([i, j]))
        np.testing.assert_allclose(images[0], ends[0], atol=1e-5)
        np.testing.assert_allclose(images[-1], ends[1], atol=1e-5)
        assert not np.allclose(images[3], ends[0], atol=1e-3)  # the middle is somewhere else
    _, path = explore.interpolate(digits, "#0", "#5", steps=5, out=tmp_path)
    assert path.name == "interpolate_0_5_linear.png" and path.is_file()


def test_traversal_centre_is_the_decoded_origin(font, tmp_path):
    rows = traversal_rows(font, np.tile([[-2.0, 2.0]], (3, 1)), steps=5)
    assert rows.shape == (3, 5, 1, 7, 5)
    origin = font.decode(np.zeros((1, 3)))[0]
    for d in range(3):
        np.testing.assert_allclose(rows[d, 2], origin, atol=1e-6)
    grid, row_path = explore.traverse(font, dims=(0, 2), steps=5, around="#4", out=tmp_path / "t.png")
    assert grid.is_file() and row_path.name == "t_rows.png" and row_path.is_file()


def test_generate_ae_draws_from_the_fitted_gaussian_and_finds_the_nearest(font, digits, tmp_path):
    z, how = explore.sample_codes(font, 500, seed=1)
    assert "Gaussian fitted to the training codes" in how
    np.testing.assert_allclose(z.mean(0), font.train_codes.mean(0), atol=0.35 * font.train_codes.std(0).max())
    z, how = explore.sample_codes(digits, 8, temperature=0.5)
    assert "prior" in how and "temperature 0.5" in how
    # A training image is its own nearest neighbour, at distance 0.
    train = digits.train.floats()[:5]
    index, rms = explore.nearest(train, digits.train.images)
    assert list(index) == [0, 1, 2, 3, 4] and np.all(rms < 1e-6)
    images, path = explore.generate(font, n=12, with_nearest=True, out=tmp_path)
    assert images.shape == (12, 1, 7, 5) and path.name == "generated_nearest.png"
    assert Image.open(path).size[0] > 400


def test_animations_have_the_asked_number_of_frames(digits, font, tmp_path):
    for kind in ("line", "sine", "circle", "random-walk", "tour"):
        path = explore.animate(digits, kind, frames=9, fps=10, out=tmp_path / f"{kind}.gif")
        assert frames_of(path) == 9, kind
    # Above 2-D the path runs in the PCA plane, lifted back into latent space.
    assert frames_of(explore.animate(font, "tour", frames=12, out=tmp_path)) == 12
    assert frames_of(explore.morph(font, "a", "b", frames=6, out=tmp_path / "m.gif")) == 6
    sizes = {Image.open(tmp_path / f"{k}.gif").size for k in ("line", "tour")}
    assert len(sizes) == 1  # every GIF of one model has one frame size


def test_arithmetic_cancels_and_uses_class_means(digits, tmp_path):
    z, terms = _evaluate(digits, "#3 - #3 + #5")
    np.testing.assert_allclose(z, digits.test_codes[5], atol=1e-5)
    z, terms = _evaluate(digits, "0.5*6 + 0.5 * 0")
    means = digits.class_means()
    np.testing.assert_allclose(z, 0.5 * means["6"] + 0.5 * means["0"], atol=1e-5)
    assert [c for c, _ in terms] == [0.5, 0.5]
    result, path = explore.arithmetic(digits, "#3 - 6 + 0", out=tmp_path)
    assert result.shape == (1, 8, 8) and path.is_file()
    for bad in ("", "#3 +", "#3 #4", "* 3", "3 * #1 - nolabel"):
        with pytest.raises(AelabError):
            _evaluate(digits, bad)


def _evaluate(ctx, expression):
    from aelab.explore.arithmetic import evaluate

    return evaluate(ctx, expression)


def test_denoise_scores_pixel_accuracy_on_binary_data(font, digits, tmp_path):
    scores, path = explore.denoise(font, "bitflip:0.1", n=6, out=tmp_path)
    assert scores.shape == (6,) and np.all((scores >= 0) & (scores <= 1)) and path.is_file()
    scores, _ = explore.denoise(digits, "gaussian:0.2", n=4, out=tmp_path)
    assert np.all(scores < 0.2)  # MSE per pixel of a [0, 1] image
    with pytest.raises(AelabError, match="noise"):
        explore.denoise(font, "gaussian:-1", out=tmp_path)


def test_latent_map_pca_and_tsne(font, tmp_path):
    pca = explore.latent_map(font, tmp_path)
    tsne = explore.latent_map(font, tmp_path / "t.png", method="tsne")
    assert pca.name == "latent_map_pca.png" and tsne.is_file()
    # Drawn maps, not empty frames: the PCA map's backdrop of decoded glyphs covers most of it; the
    # t-SNE map (no backdrop) has the 32 glyph labels over its axes, which alone darken ~2.5%.
    for path, least in ((pca, 0.3), (tsne, 0.035)):
        rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
        drawn = (rgb < 235).any(1)  # not the white page
        assert drawn.mean() > least and len(np.unique(rgb[drawn], axis=0)) > 50, (path, drawn.mean())


def test_custom_path_must_live_in_the_latent_space(digits, tmp_path):
    with pytest.raises(AelabError, match=r"shape \(frames, 2\)"):
        explore.animate(digits, points=np.zeros((5, 3)), out=tmp_path)
    assert frames_of(explore.animate(digits, points=np.random.default_rng(0).normal(size=(4, 2)), out=tmp_path)) == 4


# ------------------------------------------------------------------- training and report

def test_snapshots_make_training_gif_with_one_frame_per_snapshot(digits_run):
    strips = sorted(p.name for p in (digits_run / "snapshots").iterdir())
    assert strips == ["epoch_0002.png", "epoch_0004.png"]
    assert frames_of(digits_run / "training.gif") == 2


def test_index_html_references_only_existing_files(digits_run):
    page = (digits_run / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all((digits_run / s).is_file() for s in sources)
    assert "training.gif" in sources and "loss.png" in sources
    # The digits are grey, not binary: the metrics table has no pixel accuracy anywhere on the page.
    assert "<table>" in page and "pixel_accuracy" not in page


@pytest.mark.slow
def test_report_command_draws_everything_again(digits_run, capsys):
    assert main(["report", str(digits_run)]) == 0
    page = (digits_run / "index.html").read_text()
    sources = set(re.findall(r'(?:src|href)="([^"]+)"', page))
    assert sources and all((digits_run / s).is_file() for s in sources), sources
    on_disk = {p.name for p in digits_run.iterdir() if p.suffix in (".png", ".gif")}
    assert on_disk <= sources, on_disk - sources  # every figure in the folder is on the page
    for name in ("reconstruction.png", "loss.png", "training.gif", "generated_nearest.png", "traversal_rows.png",
                 "path_sine_60frames.gif", "path_tour_90frames.gif", "latent_map_2d.png"):
        assert name in sources and name in on_disk, name
    # Drawn again, the report's figures replace themselves: no "-2" copies.
    assert main(["report", str(digits_run), "--no-animations"]) == 0
    assert {p.name for p in digits_run.iterdir() if p.suffix in (".png", ".gif")} == on_disk


def test_explorations_are_named_after_what_they_show_and_never_overwrite(digits_run, digits):
    names = [explore.arithmetic(digits, e)[1].name for e in ("#3 - 6 + 0", "#3 - 6 + 1", "#3 - 6 + 0")]
    assert names == ["arithmetic_3_minus_6_plus_0.png", "arithmetic_3_minus_6_plus_1.png",
                     "arithmetic_3_minus_6_plus_0-2.png"]
    gifs = [explore.animate(digits, "line", frames=f, fps=10) for f in (3, 4, 3)]
    assert [p.name for p in gifs] == ["path_line_3frames.gif", "path_line_4frames.gif", "path_line_3frames-2.gif"]
    assert [frames_of(p) for p in gifs] == [3, 4, 3]  # the first GIF is still the 3-frame one
    # A grid and its rows share a number (after the ones `aelab report` drew, when its test ran first)
    taken = 2 if (digits_run / "traversal.png").exists() else 1
    first, again = explore.traverse(digits, steps=3), explore.traverse(digits, steps=4)
    numbered = [f"{stem}{'' if k == 1 else f'-{k}'}.png" for k in (taken, taken + 1) for stem in ("traversal", "traversal_rows")]
    assert [p.name for p in (*first, *again)] == numbered
    assert all(p.parent == digits_run and p.is_file() for p in (*first, *again))


# ------------------------------------------------------------------------------------ CLI

def test_cli_commands_write_and_print_their_files(font_run, tmp_path, capsys):
    runs_ = [
        (["generate", "-n", "8", "--out", str(tmp_path / "g.png")], tmp_path / "g.png"),
        (["interpolate", "--from", "a", "--to", "z", "--steps", "4"], font_run / "interpolate_a_z_linear.png"),
        (["animate", "--path", "circle", "--frames", "5"], font_run / "path_circle_5frames.gif"),
        (["morph", "--from", "0", "--to", "1", "--frames", "4", "--out", str(tmp_path / "morph.gif")],
         tmp_path / "morph.gif"),
        (["arithmetic", "b - a + c", "--out", str(tmp_path)], tmp_path / "arithmetic_b_minus_a_plus_c.png"),
        (["denoise", "--noise", "bitflip:0.05", "-n", "4"], font_run / "denoise_bitflip_0.05.png"),
        (["latent", "--no-thumbnails"], font_run / "latent_map_pca.png"),
        (["traverse", "--dims", "1,2", "--range", "-1,1", "--steps", "3"], font_run / "traversal.png"),
    ]
    for argv, expected in runs_:
        capsys.readouterr()
        assert main([argv[0], str(font_run), *argv[1:]]) == 0, argv
        assert expected.is_file() and str(expected) in capsys.readouterr().out
    assert frames_of(tmp_path / "morph.gif") == 4


@pytest.mark.parametrize("argv, message", [
    (["interpolate", "RUN", "--from", "999", "--to", "1"], "out of range"),
    (["interpolate", "RUN", "--from", "nolabel", "--to", "1"], "neither a test-set index nor a label"),
    (["traverse", "RUN", "--dims", "0,7"], "latent space has 3 dimensions"),
    (["traverse", "RUN", "--range", "3,-3"], "below"),
    (["morph", "RUN", "--from", "a", "--to", "b", "--out", "x.png"], "ending in .gif"),
    (["animate", "RUN", "--frames", "1"], "at least 2"),
    (["generate", "NOTARUN"], "not an aelab run"),
])
def test_bad_input_is_one_line_and_exit_code_2(font_run, tmp_path, capsys, argv, message):
    argv = [str(font_run) if a == "RUN" else str(tmp_path) if a == "NOTARUN" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("aelab: error:") and message in err and err.count("\n") == 1


def test_api_explorer_on_an_estimator(tmp_path):
    from sklearn.datasets import load_digits

    import aelab

    x, y = load_digits(return_X_y=True)
    x = (x[:300] / 16.0).reshape(-1, 8, 8)
    vae = aelab.VAE(latent_dim=2, encoder_layers=[32], epochs=2, seed=0).fit(x)
    ctx = vae.explorer(x, y[:300])
    images, _ = explore.interpolate(ctx, "3", "7", steps=4, out=tmp_path / "i.png")
    assert images.shape == (4, 1, 8, 8) and (tmp_path / "i.png").is_file()
    with pytest.raises(AelabError, match="no output path"):
        explore.generate(ctx, 4)


# ------------------------------------------------------------------------ readable figures

LATTICE = (107, 133, 184)  # plots/images.py FRAME, the blue-grey between and around small images


def frame_pixels(path) -> int:
    """Pixels of the lattice colour that frames small images."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int(np.all(np.abs(rgb - np.array(LATTICE)) <= 2, axis=-1).sum())


def test_small_images_sit_in_a_lattice_of_their_own_colour(font, digits_run, digits, tmp_path):
    from aelab.explore.traverse import traversal_grid

    grid, rows = explore.traverse(font, steps=5, out=tmp_path / "t.png")
    assert frame_pixels(grid) > 2000 and frame_pixels(rows) > 2000
    # 8x8 digits too: the run's latent_traversal.png (this function draws it) and reconstruction.png
    assert frame_pixels(traversal_grid(digits, tmp_path / "d.png", steps=6)) > 2000
    assert frame_pixels(digits_run / "reconstruction.png") > 500


def test_glyphs_are_named_at_their_points_and_the_backdrop_glyphs_stand_apart(font, digits):
    from aelab.explore.run_figures import latent_2d
    from aelab.plots.figures import draw_latent_space

    points, _, axes = latent_2d(font.test_codes)
    ax = draw_latent_space(points, font.test.labels, font.test.label_names, axis_names=axes).axes[0]
    glyphs = sorted(font.test.label_names[c] for c in font.test.labels)
    assert len(glyphs) == 32 and sorted(t.get_text() for t in ax.texts) == glyphs and ax.get_legend() is None
    ax = draw_latent_space(latent_2d(digits.test_codes)[0], digits.test.labels, digits.test.label_names).axes[0]
    assert ax.get_legend() is not None and not ax.texts  # many images per class: colours and a legend
    from aelab.explore.latent_map import drawing

    fig, used = drawing(font, grid=12)
    ax = fig.axes[0]
    assert used == "pca" and sorted(t.get_text() for t in ax.texts) == glyphs
    # 12x12 decoded glyphs in a lattice one pixel wide: each reads as a glyph, not a carpet of pixels
    assert ax.images[0].get_array().shape[:2] == (12 * 8 + 1, 12 * 6 + 1)


def test_tsne_of_a_2d_model_says_it_draws_the_codes_as_they_are(digits_run, tmp_path, capsys):
    assert main(["latent", str(digits_run), "--method", "tsne", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    said = [line for line in err.splitlines() if "t-SNE" in line]
    assert len(said) == 1 and "latent_map_2d.png" in said[0] and out.strip().endswith("latent_map_2d.png")


@pytest.fixture(scope="module")
def emoji_run(tmp_path_factory):
    """A 2-D AE on 40 emojis in one folder: images without labels, in colour."""
    import shutil
    from pathlib import Path

    flat = tmp_path_factory.mktemp("emojis-flat")
    emojis = Path(__file__).resolve().parents[1] / "examples" / "emojis"
    for png in sorted(emojis.glob("*/*.png"))[::4][:40]:
        shutil.copy(png, flat / png.name)
    run = tmp_path_factory.mktemp("emoji-ae")
    config = load_config(None, ["data.dataset=folder", f"data.path={flat}", "data.input_size=[16,16]",
                                "data.test_split=0.5", "model.type=ae", "model.latent_dim=2",
                                "model.encoder_layers=[32]", "training.epochs=2", "training.threads=1"])
    train_run(config, run, progress=False)
    return run


def test_an_unlabelled_map_shows_the_images_at_their_points(emoji_run):
    from matplotlib.offsetbox import AnnotationBbox

    # latent_space.png: emoji colours (yellow, orange, red) where there were only blue dots
    rgb = np.asarray(Image.open(emoji_run / "latent_space.png").convert("RGB")).astype(int)
    warm = (rgb[..., 0] > 180) & (rgb[..., 2] < 110)
    assert warm.sum() > 300
    from aelab.explore.latent_map import drawing

    ctx = explore.open_run(emoji_run)
    assert ctx.test.labels is None
    fig, _ = drawing(ctx, thumbnails=False)
    shown = [a for a in fig.axes[0].artists if isinstance(a, AnnotationBbox)]
    assert 5 <= len(shown) <= len(ctx.test)


def test_arithmetic_titles_never_overlap_even_when_long():
    """Fashion-MNIST's 'nearest test image: test #6679 (T-shirt/top)' ran into '= decoded result'
    (issue 27): every title, as drawn, stays clear of its neighbours and of the figure's title."""
    from sklearn.datasets import load_digits

    from aelab.plots.explore_figures import draw_equation

    digits = load_digits().images[:5] / 16.0
    images = [np.kron(d, np.ones((3, 3)))[None].astype(np.float32) for d in digits]  # (1, 24, 24)
    fig = draw_equation(images[:3], ["test #9998 (Trouser)", "- mean of 'Sneaker'", "+ mean of 'Ankle boot'"],
                        images[3], images[4], "nearest test image: test #6679 (T-shirt/top)",
                        "VAE latent arithmetic: #9998 - Sneaker + Ankle boot")
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    assert "T-shirt/top" in fig.axes[-1].get_title()  # wrapped, not cut
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 < right.x0, (left, right)
    top = fig._suptitle.get_window_extent(renderer)
    assert all(box.y1 < top.y0 for box in boxes)
    assert all(box.y0 > ax.get_window_extent(renderer).y1 - 1 for box, ax in zip(boxes, fig.axes))


def _drawn(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())[..., :3].astype(int)  # a copy: the canvas is drawn again


@pytest.mark.parametrize("n", [30, 10_000])
def test_the_latent_map_backdrop_stays_readable_under_30_or_10000_points(n):
    """Fashion-MNIST's 10,000 dots hid the decoded backdrop (issue 27): dots shrink and fade as
    they multiply, so that most of the backdrop still shows, and 30 dots stay plain to see."""
    from sklearn.datasets import load_digits

    from aelab.plots.explore_figures import draw_latent_map

    digits = load_digits()
    backdrop = (np.kron(digits.images[:144] / 16.0, np.ones((3, 3)))[:, None].astype(np.float32), 12,
                (np.array([-2.0, -2.0]), np.array([2.0, 2.0])))
    rng = np.random.default_rng(0)
    points, labels = rng.normal(0, 1, (n, 2)), rng.integers(0, 10, n)
    names = [str(d) for d in range(10)]
    fig = draw_latent_map(points, labels, names, ("z[0]", "z[1]"), "map", backdrop)
    drawn = _drawn(fig)
    for drawn_on_top in [*fig.axes[0].collections, *fig.axes[0].texts]:
        drawn_on_top.set_visible(False)
    bare = _drawn(fig)  # the same figure, the backdrop alone
    x0, y0, x1, y1 = fig.axes[0].get_window_extent().extents.astype(int)
    inside = (slice(drawn.shape[0] - y1 + 2, drawn.shape[0] - y0 - 2), slice(x0 + 2, x1 - 2))
    changed = (np.abs(drawn[inside] - bare[inside]).sum(-1) > 60).mean()
    if n == 30:
        assert changed > 0.005, changed  # the dots and their names show
    else:
        assert changed < 0.25, changed  # most of the backdrop shows through 10,000 dots (was 0.44)


def test_a_tsne_map_and_its_report_caption_claim_no_decoded_backdrop(font):
    from aelab.explore.latent_map import drawing
    from aelab.explore.report import caption

    fig, used = drawing(font, method="tsne")
    assert used == "tsne" and not fig.axes[0].images and "decoded" not in fig.axes[0].get_title()
    assert "nothing is decoded" in caption("latent_map_tsne.png")
    assert "decoded at grid points" in caption("latent_map_pca.png")


def test_every_point_of_a_latent_map_lies_inside_its_axes():
    """The backdrop spans most codes, not all: an outlier's name was drawn below the axes, over
    the tick labels (the font's '{' on its PCA map)."""
    from aelab.plots.explore_figures import draw_latent_map

    rng = np.random.default_rng(0)
    points = np.vstack([rng.uniform(-1, 1, (30, 2)), [[0.2, -3.0]]])  # one outlier far below
    backdrop = (rng.random((16, 1, 7, 5)), 4, (np.array([-1.0, -1.0]), np.array([1.0, 1.0])))
    fig = draw_latent_map(points, np.arange(31) % 31, [chr(65 + i % 26) for i in range(31)],
                          ("PC 1", "PC 2"), "map", background=backdrop)
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    assert x0 < points[:, 0].min() and points[:, 0].max() < x1
    assert y0 < points[:, 1].min() and points[:, 1].max() < y1

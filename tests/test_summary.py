"""`aelab summary RUN`, the layer table `aelab train` logs and index.html shows."""

from __future__ import annotations

import logging

from aelab.cli import main
from aelab.explore.report import write_report


def test_summary_lists_layers_shapes_and_parameters_in_the_log_the_report_and_the_command(tmp_path, caplog, capsys):
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="aelab"):
        assert main(["train", "--out", str(run), "--set", "model.architecture=conv", "--set", "training.epochs=1",
                     "--set", "model.conv_channels=[4,8]", "--set", "model.conv_dense=16",
                     "--set", "training.threads=1", "--no-progress", "--no-figures"]) == 0
    logged = caplog.text
    # digits 1x8x8 -> stride-2 convs 4x4x4, 8x2x2 -> dense 16 -> head 2 x latent 2 (mean, log-variance)
    for row in ("encoder.convs.0", "Conv2d", "4x4x4", "encoder.convs.2", "8x2x2", "encoder.head",
                "decoder.deconvs.2", "ConvTranspose2d", "1x8x8"):
        assert row in logged, row
    capsys.readouterr()
    assert main(["summary", str(run)]) == 0
    printed = capsys.readouterr().out
    # 4*1*9+4 = 40, 8*4*9+8 = 296, 32*16+16 = 528, 16*4+4 = 68 (encoder)
    assert "parameters:" in printed and "(932 encoder" in printed
    head = next(line for line in printed.splitlines() if line.startswith("encoder.head "))
    assert head.split()[-2:] == ["4", "68"]
    page = write_report(run).read_text()  # what aelab train ends with (figures skipped here)
    assert "<h2>Model</h2>" in page and "encoder.convs.0" in page and "(932 encoder" in page
    assert main(["summary", str(tmp_path / "nothing")]) == 2

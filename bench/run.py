"""The speed benchmark: aelab's trainer against a textbook PyTorch loop and pythae, interleaved in
one process tree (every measurement is a fresh child process, see worker.py), printed as
Markdown tables for BENCHMARKS.md.

    .venv/bin/python bench/run.py            # the full benchmark (about 5 min on 2 quiet cores)
    .venv/bin/python bench/run.py --quick    # a smoke run: fewer images and epochs
    .venv/bin/python bench/run.py --pythae /path/to/venv/bin/python   # pythae's interpreter
    .venv/bin/python bench/run.py --device cuda   # on a machine with a GPU (no pythae rows)

pythae lives in its own venv (it is no dependency of aelab): see BENCHMARKS.md. Without it the
pythae rows are skipped. Raw results go to bench/out/ as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402
from harness import column, median, spread  # noqa: E402

# pythae's interpreter: --pythae, else $AELAB_PYTHAE_PYTHON, else bench/.venv (never a fixed path of one machine).
PYTHAE_PYTHONS = [*([Path(os.environ["AELAB_PYTHAE_PYTHON"])] if os.environ.get("AELAB_PYTHAE_PYTHON") else []),
                  HERE / ".venv" / "bin" / "python"]


def measure(python: str, way: str, args: list[str], processes: int = 0) -> dict:
    """One measurement in a fresh process; `processes` > 0: under torchrun with that many (DDP)."""
    launcher = [python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)] \
        if processes else [python, "-W", "ignore"]
    return harness.fresh([*launcher, str(HERE / "worker.py"), way, *args])


def interleaved(ways: list[tuple[str, str, str, list[str]]], reps: int, log) -> dict[str, list[dict]]:
    """Each repetition runs every way once, in turn, so slow phases of a busy machine hit all."""
    def report(rep: int, label: str, r: dict) -> None:
        log(r)
        harness.progress(f"  rep {rep + 1}/{reps} {label} ({r['ran_in']}): {r['samples_per_s']:,.0f} samples/s, "
                         f"test loss {r['test_loss']:.2f}, {r['peak_rss_mb']:.0f} MB")

    return harness.interleave({label: (lambda p=python, w=way, a=args: measure(p, w, a))
                               for label, python, way, args in ways}, reps, report=report)


def comparison_table(results: dict[str, list[dict]], baseline: str) -> str:
    base = median(column(results[baseline], "samples_per_s"))
    base_loss = median(column(results[baseline], "test_loss"))
    rows = []
    for label, rs in results.items():
        speed, loss = column(rs, "samples_per_s"), median(column(rs, "test_loss"))
        rows.append([label, rs[0].get("ran_in", rs[0]["precision"]), spread(speed, ",.0f"),
                     f"{median(speed) / base:.2f}x", spread(column(rs, "test_loss"), ".2f"),
                     f"{100 * (loss / base_loss - 1):+.2f}%", spread(column(rs, "peak_rss_mb"), ".0f"),
                     spread(column(rs, "cpu_seconds"), ".1f")])
    return harness.table(["way", "ran in", "samples/s, median (min-max)", "vs textbook",
                          "test loss (nats or sum-sq/image)", "loss vs textbook", "peak RSS MB", "train CPU s"], rows)


def scaling(python: str, common: list[str], log, limit: int, threads: int) -> str:
    """Each cell: aelab (fp32) and the textbook loop measured back to back, as a ratio."""
    out = []

    def pair(args: list[str], processes: int = 0) -> tuple[dict, dict]:
        a = measure(python, "aelab", common + args, processes)
        t = measure(python, "textbook", common + args)
        log(a), log(t)
        return a, t

    def ratio_row(first: str, a: dict, t: dict) -> str:
        return (f"| {first} | {a['samples_per_s']:,.0f} | {t['samples_per_s']:,.0f} "
                f"| {a['samples_per_s'] / t['samples_per_s']:.2f}x |")

    head = "| aelab samples/s | textbook samples/s | aelab / textbook |"
    rows = [f"| batch {head}", "|---|---|---|---|"]
    for batch in (32, 128, 512, 1024):
        rows.append(ratio_row(str(batch), *pair(["--batch", str(batch), "--limit", str(limit)])))
    out += [f"Samples/s vs batch size (784-400-20 VAE, {limit:,} images):", "", *rows, ""]
    rows = [f"| hidden width (parameters) {head}", "|---|---|---|---|"]
    for hidden in (100, 400, 1600):
        params = 2 * 784 * hidden + hidden + 784 + 2 * 20 * hidden + 40 + 20 * hidden + hidden
        rows.append(ratio_row(f"{hidden} ({params:,})", *pair(["--hidden", str(hidden), "--limit", str(limit)])))
    out += [f"Samples/s vs hidden width (784-H-20, batch 128, {limit:,} images):", "", *rows, ""]
    rows = ["| training images | aelab samples/s | textbook samples/s | aelab / textbook | aelab peak RSS MB "
            "| textbook peak RSS MB |", "|---|---|---|---|---|---|"]
    for n in (15000, 30000, 60000):
        a, t = pair(["--limit", str(n)])
        rows.append(f"{ratio_row(f'{n:,}', a, t)} {a['peak_rss_mb']:.0f} | {t['peak_rss_mb']:.0f} |")
    out += ["Samples/s and peak memory vs dataset size (784-400-20 VAE, batch 128):", "", *rows, ""]
    rows = [f"| aelab processes (threads each) {head}", "|---|---|---|---|"]
    base = common[:common.index("--threads")] + common[common.index("--threads") + 2:]
    for processes in (1, 2):
        each = max(1, threads // processes)
        a = measure(python, "aelab", base + ["--threads", str(each), "--limit", str(limit)], processes)
        t = measure(python, "textbook", base + ["--threads", str(threads), "--limit", str(limit)])
        log(a), log(t)
        rows.append(ratio_row(f"{processes} DDP, gloo ({each})", a, t))
    out += [f"Samples/s vs processes (torchrun + DDP; the textbook loop: 1 process, {threads} threads; "
            f"{limit:,} images, batch 128 global):", "", *rows, ""]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="12k images, 1 epoch, no scaling tables")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pythae", help="python of a venv with pythae (default: $AELAB_PYTHAE_PYTHON, then bench/.venv)")
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--scaling-only", action="store_true", help="only the scaling tables")
    p.add_argument("--bf16", action="store_true", help="add forced-bf16 rows (slow on CPUs without bf16 hardware)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = p.parse_args()
    python = sys.executable
    pythae = a.pythae or next((str(x) for x in PYTHAE_PYTHONS if x.exists()), None)
    if a.device == "cuda":
        pythae = None  # its venv is CPU-only
    epochs, limit = (1, 12000) if a.quick else (a.epochs, None)
    common = ["--threads", str(a.threads), "--epochs", str(epochs), "--device", a.device] + \
        (["--limit", str(limit)] if limit else [])

    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    raw = open(out_dir / f"results-{time.strftime('%Y%m%d-%H%M%S')}.jsonl", "w")

    def log(r):
        raw.write(json.dumps(r) + "\n")
        raw.flush()

    started = time.time()
    import torch

    where = torch.cuda.get_device_name() if a.device == "cuda" else f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    print(f"# aelab benchmark, {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} CPUs, {where}, "
          f"{a.threads} threads, load average before: {harness.load_average()}\n")

    if a.scaling_only:
        print("## Scaling (1 epoch, aelab fp32 against the textbook loop back to back, 1 run per cell)\n")
        print(scaling(python, ["--threads", str(a.threads), "--epochs", "1", "--device", a.device], log, 20000,
                      a.threads))
        print(f"\nTotal {time.time() - started:.0f} s; load average after: {harness.load_average()}")
        return
    vae = [("textbook loop (DataLoader, shuffle)", python, "textbook", common)]
    if pythae:
        vae.append(("pythae 0.1.2 TrainingPipeline", pythae, "pythae", common))
    vae += [("aelab, training.precision fp32", python, "aelab", common + ["--precision", "fp32"]),
            ("aelab, training.precision auto (default)", python, "aelab", common + ["--precision", "auto"])]
    if a.bf16:
        vae += [("textbook loop + bf16 autocast", python, "textbook", common + ["--precision", "bf16"])]
    n = limit or 60000
    print(f"## Classic VAE 784-400-20, Fashion-MNIST {n:,} images, {epochs} epochs, batch 128, Adam 1e-3\n")
    print(comparison_table(interleaved(vae, a.reps, log), vae[0][0]))
    if not pythae:
        print("\n(pythae rows skipped: no venv with pythae found; see BENCHMARKS.md)")

    conv_common = ["--model", "conv", "--threads", str(a.threads), "--epochs", str(1 if a.quick else 2),
                   "--limit", str(6000 if a.quick else 20000), "--device", a.device]
    conv = [("textbook loop (DataLoader, shuffle)", python, "textbook", conv_common),
            ("aelab, training.precision fp32", python, "aelab", conv_common + ["--precision", "fp32"]),
            ("aelab, training.precision auto (default)", python, "aelab", conv_common + ["--precision", "auto"])]
    if a.bf16:
        conv += [("aelab, training.precision bf16 (forced)", python, "aelab", conv_common + ["--precision", "bf16"])]
    print(f"\n## Seed 002's conv AE (8-16-32 tanh, dense 64, code 2, MSE), Fashion-MNIST "
          f"{6000 if a.quick else 20000:,} images, {1 if a.quick else 2} epochs, batch 128\n")
    print(comparison_table(interleaved(conv, a.reps, log), conv[0][0]))

    if not (a.quick or a.no_scaling):
        print("\n## Scaling (1 epoch, aelab fp32 against the textbook loop back to back, 1 run per cell)\n")
        print(scaling(python, ["--threads", str(a.threads), "--epochs", "1", "--device", a.device], log, 20000,
                      a.threads))
    print(f"\nTotal {time.time() - started:.0f} s; load average after: {harness.load_average()}")


if __name__ == "__main__":
    main()

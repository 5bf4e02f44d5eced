"""What safe checkpoints cost: aelab's write (SHA-256 of the content, temporary file, fsync,
rename) and read (load + hash check) beside a bare safetensors save_file / load_file of the same
tensors, interleaved repetition by repetition. Both reads then touch every value, as using the
weights does (load_file maps the file lazily).

    python bench/checkpoint_io.py            # 128 MB of float32, 5 repetitions
    python bench/checkpoint_io.py --mb 16 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from aelab.train import checkpoint  # noqa: E402


def touch(tensors: dict[str, torch.Tensor]) -> None:
    """Use every byte, as a model does: load_file maps the file and reads lazily."""
    sum(float(t.sum()) for t in tensors.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=128, help="size of the tensors (MB)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.mb * (1 << 20) // 4 // 4
    tensors = {f"layer{i}.weight": torch.randn(n, generator=torch.Generator().manual_seed(i)) for i in range(4)}
    with tempfile.TemporaryDirectory(dir=".") as folder:
        bare, safe = Path(folder) / "bare.safetensors", Path(folder) / "safe.safetensors"
        steps = {"bare write": lambda: save_file(tensors, str(bare), metadata={"a": "1"}),
                 "aelab write": lambda: checkpoint.atomic_save(tensors, safe, {"a": 1}),
                 "bare read": lambda: touch(load_file(str(bare))),
                 "aelab read": lambda: touch(checkpoint.read(safe, "checkpoint")[0])}
        times = harness.interleave({name: (lambda step=step: harness.timed(step)[1]) for name, step in steps.items()},
                                   args.repeats)
    print(f"{args.mb} MB, median of {args.repeats} (seconds; ratio to bare)")
    for kind in ("write", "read"):
        base, ours = harness.median(times[f"bare {kind}"]), harness.median(times[f"aelab {kind}"])
        print(f"{kind:5}  bare {base:.3f}  aelab {ours:.3f}  x{ours / base:.2f}")


if __name__ == "__main__":
    main()

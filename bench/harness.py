"""What the benchmarks in bench/ share: the ways being compared run in turn, repetition by
repetition (interleaved, so the slow phases of a busy machine hit every way alike), each measurement
timed in this process or run in a fresh one that prints one JSON line; results summarised as
median (min-max) and printed as Markdown tables for BENCHMARKS.md, with the machine's load before
and after.

bench/ is no package: a script imports this file from its own folder,

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import harness  # noqa: E402

and tests/test_bench_harness.py the same way.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

T = TypeVar("T")


# ------------------------------------------------------------------------------ running the ways

def interleave(ways: Mapping[str, Callable[[], T]], reps: int, alternate: bool = False,
               report: Callable[[int, str, T], None] | None = None) -> dict[str, list[T]]:
    """Run every way once per repetition, in turn: {label: [result of each repetition]}.
    `alternate`: every other repetition runs the ways in reverse order, so that no way always
    follows the same one (for two ways: neither always runs first, on a warmer or cooler machine).
    `report(rep, label, result)` after each measurement (a progress line on stderr)."""
    results: dict[str, list[T]] = {label: [] for label in ways}
    order = list(ways)
    for rep in range(reps):
        for label in reversed(order) if alternate and rep % 2 else order:
            result = ways[label]()
            results[label].append(result)
            if report is not None:
                report(rep, label, result)
    return results


def fresh(command: Sequence[str], env: Mapping[str, str] | None = None) -> Any:
    """Run `command` in a fresh process and return the JSON of its last stdout line (a fresh
    interpreter: no warm caches, allocator or thread pools from the measurement before). Exits
    with the end of its stderr when it fails."""
    done = subprocess.run(list(command), capture_output=True, text=True, env=None if env is None else dict(env))
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def python(*args: Any) -> list[str]:
    """A command running this interpreter, warnings off (they would end up in the JSON line's way)."""
    return [sys.executable, "-W", "ignore", *map(str, args)]


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(fn(), wall seconds, CPU seconds of this process: all its threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


# ------------------------------------------------------------------------------ summaries

def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def column(rows: Iterable[Mapping[str, Any]], key: str) -> list:
    """One key of every result row, e.g. column(results["aelab"], "samples_per_s")."""
    return [row[key] for row in rows]


def spread(values: Iterable[float], fmt: str = ".2f") -> str:
    """"median (min-max)", formatted with `fmt`; the value alone when there is one."""
    values = list(values)
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table: the header, its rule, a line per row (cells as given, str() of others)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}: {row}")
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def load_average() -> str:
    """The machine's 1, 5 and 15-minute load averages, for the lines before and after a benchmark."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def progress(line: str) -> None:
    """A line on stderr (stdout is the tables)."""
    print(line, file=sys.stderr, flush=True)

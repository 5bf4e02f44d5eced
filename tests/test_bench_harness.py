"""bench/harness.py, the benchmarks' shared harness: the order it runs the ways in, the fresh
processes, the summaries and the Markdown tables. On real small callables and real child
processes; nothing here asserts a speed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import harness  # noqa: E402  (bench/ is no package: its scripts import it the same way)


def test_interleave_runs_every_way_once_per_repetition_in_turn():
    calls = []
    ways = {label: (lambda label=label: calls.append(label) or f"{label}{calls.count(label)}") for label in "abc"}
    results = harness.interleave(ways, reps=3)
    assert calls == list("abcabcabc")
    assert results == {"a": ["a1", "a2", "a3"], "b": ["b1", "b2", "b3"], "c": ["c1", "c2", "c3"]}


def test_alternate_reverses_every_other_repetition_and_report_sees_each_measurement():
    calls, reported = [], []
    ways = {label: (lambda label=label: calls.append(label) or len(calls)) for label in ("fp32", "bf16")}
    results = harness.interleave(ways, reps=4, alternate=True,
                                 report=lambda rep, label, result: reported.append((rep, label, result)))
    assert calls == ["fp32", "bf16", "bf16", "fp32", "fp32", "bf16", "bf16", "fp32"]
    assert reported == [(0, "fp32", 1), (0, "bf16", 2), (1, "bf16", 3), (1, "fp32", 4),
                        (2, "fp32", 5), (2, "bf16", 6), (3, "bf16", 7), (3, "fp32", 8)]
    assert results == {"fp32": [1, 4, 5, 8], "bf16": [2, 3, 6, 7]}  # by repetition, whatever the order
    assert harness.interleave(ways, reps=0) == {"fp32": [], "bf16": []}


def test_median_spread_and_column():
    rows = [{"speed": 300.0, "loss": 2.0}, {"speed": 100.0, "loss": 1.0}, {"speed": 250.0, "loss": 4.0}]
    assert harness.column(rows, "speed") == [300.0, 100.0, 250.0]
    assert harness.median(harness.column(rows, "speed")) == 250.0
    assert harness.median(x for x in (4, 1, 3, 2)) == 2.5  # an even count: the mean of the middle two
    assert harness.spread(harness.column(rows, "speed"), ",.0f") == "250 (100-300)"
    assert harness.spread([1234.5, 2000.25], ",.1f") == "1,617.4 (1,234.5-2,000.2)"
    assert harness.spread([0.5]) == "0.50"  # one value: no range to show


def test_table_is_markdown_with_one_rule_and_refuses_a_short_row():
    text = harness.table(["way", "samples/s", "vs textbook"], [["textbook", "1,000", "1.00x"], ["aelab", 950, "0.95x"]])
    assert text.splitlines() == ["| way | samples/s | vs textbook |", "|---|---|---|",
                                 "| textbook | 1,000 | 1.00x |", "| aelab | 950 | 0.95x |"]
    with pytest.raises(ValueError, match="a row of 2 cells under a header of 3"):
        harness.table(["a", "b", "c"], [["1", "2"]])


def test_fresh_reads_the_last_json_line_of_a_new_process_and_stops_on_a_failure(tmp_path):
    child = harness.python("-c", "import json, os, sys; print('warming up'); "
                                 "print(json.dumps({'pid': os.getpid(), 'argv': sys.argv[1:]}))", "x", 3)
    first, second = harness.fresh(child), harness.fresh(child)
    assert first["argv"] == ["x", "3"] and first["pid"] != second["pid"]  # a new interpreter each time
    env = {"PATH": "/usr/bin:/bin", "BENCH_MARK": "seen"}
    assert harness.fresh([sys.executable, "-c", "import json, os; print(json.dumps(os.environ['BENCH_MARK']))"], env) == "seen"
    with pytest.raises(SystemExit, match=r"(?s)-c 1 / 0 failed:\n.*ZeroDivisionError"):
        harness.fresh([sys.executable, "-c", "1 / 0"])


def test_timed_returns_the_result_with_wall_and_cpu_seconds():
    result, wall, cpu = harness.timed(lambda: sum(range(100_000)))
    assert result == 4999950000 and isinstance(wall, float) and isinstance(cpu, float) and wall >= 0 and cpu >= 0
    assert len(harness.load_average().split()) == 3

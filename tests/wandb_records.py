"""Read an offline W&B run back: its run-<id>.wandb file is a LevelDB-style log of W&B's own
protobuf Records (wandb.proto.wandb_internal_pb2.Record). wandb >= 0.18 reads it in Go (wandb-core)
and no longer ships a Python reader, so the log's framing is undone here and every record is parsed
with wandb's own message class."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

HEADER = b":W&B\xe1\xbe\x00"  # ident, magic 0xBEE1, version 0
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:7] == HEADER, data[:7]
    found, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            pos += left
            continue
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
            pending = b""
    return found


def _has_exit(log: Path) -> bool:
    try:
        return any(r.WhichOneof("record_type") == "exit" for r in records(log))
    except Exception:  # a record still being written
        return False


def offline_run(folder: Path) -> dict:
    """{"name", "group", "config", "history" (rows by step), "summary", "files", "exit_code"} of the one
    offline run under `folder`."""
    [run_dir] = Path(folder).glob("offline-run-*")
    [log] = run_dir.glob("run-*.wandb")
    # run.finish() returns once W&B's service has the records, which writes them a moment later (on
    # a loaded machine the file was still empty when read): wait for the run's exit record.
    deadline = time.monotonic() + 60
    while not _has_exit(log) and time.monotonic() < deadline:
        time.sleep(0.2)
    out = {"config": {}, "history": {}, "summary": {}, "files": sorted(p.name for p in (run_dir / "files").iterdir()),
           "exit_code": None}
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["name"], out["group"] = record.run.display_name, record.run.run_group
            out["config"].update({u.key: json.loads(u.value_json) for u in record.run.config.update})
        elif kind == "config":
            out["config"].update({u.key: json.loads(u.value_json) for u in record.config.update})
        elif kind == "history":
            row = {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item}
            out["history"][record.history.step.num] = row
        elif kind == "summary":
            out["summary"].update({"/".join(u.nested_key) or u.key: json.loads(u.value_json) for u in record.summary.update})
        elif kind == "exit":
            out["exit_code"] = record.exit.exit_code
    return out

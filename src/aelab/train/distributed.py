"""Data-parallel training across processes and machines (PyTorch DistributedDataParallel).

Launch with torchrun, which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT:

    torchrun --nproc-per-node 4 -m aelab train --config my.json                  # one machine
    torchrun --nnodes 2 --node-rank 0 --master-addr HOST --master-port 29500 \
             --nproc-per-node 4 -m aelab train --config my.json                  # on each machine

How the work is split: `training.batch_size` is the GLOBAL batch. Every rank draws the same seeded
permutation, cuts the same global batches from it and takes every world_size-th image of each
(tensor slicing, no per-sample Python). Each rank's loss is weighted by its share of the global
batch, so DDP's gradient average equals the gradient of the global batch mean: one process and
N processes follow the same trajectory up to floating-point summation order (and, for VAEs and
DAEs, the random draws of z and noise, which each rank makes for its own images).

Rank 0 alone writes the run folder. Checkpoints hold the plain (unwrapped) model and the shared
generator, so a run resumes with any number of processes; on several machines the run folder
must be on a filesystem every node can read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from aelab.errors import AelabError
from aelab.train.objective import Objective

LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    # torchrun sets TORCHELASTIC_RUN_ID; other launchers at least RANK and WORLD_SIZE.
    return "TORCHELASTIC_RUN_ID" in os.environ or {"RANK", "WORLD_SIZE"} <= set(os.environ)


def launcher_environment() -> dict[str, str]:
    """The launcher's variables; a one-line error naming the missing ones."""
    missing = [name for name in LAUNCHER_VARIABLES if not os.environ.get(name)]
    if missing:
        raise AelabError(f"distributed training needs {', '.join(LAUNCHER_VARIABLES)} in the environment; "
                         f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Launch with "
                         "torchrun --nproc-per-node N -m aelab train ... (it sets them all)")
    env = {name: os.environ[name] for name in LAUNCHER_VARIABLES}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        if not env[name].isdigit():
            raise AelabError(f"the launcher variable {name}={env[name]!r} is not a whole number; "
                             "launch with torchrun, which sets it")
    if int(env["RANK"]) >= int(env["WORLD_SIZE"]):
        raise AelabError(f"RANK {env['RANK']} is not below WORLD_SIZE {env['WORLD_SIZE']}; check the launcher")
    return env


def setup(device: str = "auto") -> Context:
    """Join the process group (gloo on CPU, nccl on CUDA); returns this process's place in it."""
    env = launcher_environment()
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if use_cuda else "gloo"
    local_rank = int(env["LOCAL_RANK"])
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Context(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def teardown(finished: bool = True) -> None:
    """Leave the process group. A rank that finished waits for the others first: one that left
    while rank 0 still wrote figures or fitted a sampler could abort in gloo's connection thread
    ("terminate called without an active exception")."""
    if not dist.is_initialized():
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


def device_for(context: Context | None, name: str) -> torch.device | None:
    """Each rank's GPU is the one of its local rank; None: decide as for one process."""
    if context is not None and context.backend == "nccl":
        return torch.device("cuda", context.local_rank)
    return None


def share(value, context: Context | None):
    """Rank 0's `value` (any JSON-like object), on every rank."""
    if context is None or context.world_size == 1:
        return value
    box = [value if context.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def local_share(global_batch: torch.Tensor, context: Context | None) -> torch.Tensor:
    """This rank's images of a global batch of indices: every world_size-th one."""
    if context is None or context.world_size == 1:
        return global_batch
    return global_batch[context.rank::context.world_size]


def all_sum(values: torch.Tensor, context: Context | None) -> torch.Tensor:
    """The element-wise sum of `values` over all ranks (one collective for a whole vector)."""
    if context is None or context.world_size == 1:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def wrap(model: torch.nn.Module, context: Context | None, device: torch.device):
    """What to call for a training step's objective: `model.objective`, or, with several ranks,
    DDP around it (DDP synchronises the gradients of what is called through it)."""
    if context is None or context.world_size == 1:
        return model.objective
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(Objective(model), device_ids=ids)

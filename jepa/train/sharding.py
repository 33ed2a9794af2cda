"""``train.strategy=fsdp``: PyTorch's FSDP2 (``fully_shard``) for models that outgrow one device. Each rank keeps a
shard of every parameter, gradient and optimizer moment, and gathers one unit's parameters at a time for its
forward and backward.

Checkpoints stay what DDP writes: the consolidated (full) weights in ``model.safetensors`` and the optimizer state
keyed by parameter index, so a run resumes under either strategy, and on any number of ranks.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

from jepa.models.attention import Block

_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def shard(method: nn.Module) -> None:
    """Shard every transformer block as its own unit, then each of the method's parts with parameters (encoder,
    predictor, EMA target, heads: a part may be called alone, as the collapse monitors call the encoder), then the
    method itself."""
    # FSDP2 warns at every forward that returns a view (a linear layer's output on (B, N, D) input is one), in
    # case the caller modifies it in place; no method does
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module .* returned a view tensor")
    for module in method.modules():
        if isinstance(module, Block):
            fully_shard(module)
    for part in method.children():
        if any(p.numel() for p in part.parameters()):
            fully_shard(part)
    fully_shard(method)


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's shard of a sharded tensor; any other tensor as it is."""
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole of a sharded tensor (a collective: every rank calls it); any other tensor as it is."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def _param_names(method: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The name of each parameter in the optimizer's order: index ``i`` of a plain ``optimizer.state_dict()``."""
    names = {id(p): name for name, p in method.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def full_model_state(method: nn.Module) -> dict[str, torch.Tensor]:
    """The consolidated weights on the CPU, on the main rank (the others get an empty dict); every rank calls it."""
    return get_model_state_dict(method, options=_FULL)


def load_full_model_state(method: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load consolidated weights (every rank read them) into the sharded method: each rank keeps its shard."""
    set_model_state_dict(method, weights, options=StateDictOptions(full_state_dict=True, strict=True))


def full_optimizer_state(method: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The consolidated optimizer state in ``optimizer.state_dict()``'s layout (parameters by index), on the main
    rank; every rank calls it."""
    state = get_optimizer_state_dict(method, optimizer, options=_FULL)
    if not state:
        return {}
    index = {name: i for i, name in enumerate(_param_names(method, optimizer))}
    groups = [{**group, "params": [index[name] for name in group["params"]]} for group in state["param_groups"]]
    return {"state": {index[name]: moments for name, moments in state["state"].items()}, "param_groups": groups}


def load_full_optimizer_state(method: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load an optimizer state in ``optimizer.state_dict()``'s layout (a DDP or FSDP run's) into the sharded one."""
    names = _param_names(method, optimizer)
    groups = [{**group, "params": [names[i] for i in group["params"]]} for group in state["param_groups"]]
    by_name = {"state": {names[int(i)]: moments for i, moments in state["state"].items()}, "param_groups": groups}
    set_optimizer_state_dict(method, optimizer, by_name, options=StateDictOptions(full_state_dict=True))

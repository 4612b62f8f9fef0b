"""Where a run executes and how it is made repeatable: devices, seeds, generator states.

Every function that takes a model and no device uses the model's own device
(`model_device`), so code written on the CPU runs unchanged once the model is on a GPU.
"""
from __future__ import annotations

import os
import platform
import random

import torch
from torch import nn


def set_seed(seed: int) -> None:
    """Seed Python's and torch's generators (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    torch.manual_seed(seed)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`None` picks CUDA when present, else the CPU; an explicit choice is checked."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA GPU is available; use device='cpu'")
    return device


def model_device(model: nn.Module, device: str | torch.device | None = None) -> torch.device:
    """`device` if given, else the device of the model's first parameter (the CPU if it has none)."""
    if device is not None:
        return torch.device(device)
    first = next(model.parameters(), None)
    return torch.device("cpu") if first is None else first.device


def device_name(device: str | torch.device) -> str:
    """A readable name for a results record: the GPU's model, or the CPU's shape."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def rng_state() -> dict:
    """The states of every generator training draws from (dropout uses torch's).

    On a GPU only the *current* device's generator is saved: a run trains on one device, and
    saving every visible GPU's state made resuming fail where fewer GPUs were visible.
    """
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    """Put back generator states saved by `rng_state`.

    A CUDA state is restored only where CUDA is available (a GPU run resumed on the CPU
    draws dropout masks from the CPU generator, which is restored either way). Checkpoints
    written before this change hold a list with one state per GPU: the first one is used.
    """
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        if isinstance(cuda, (list, tuple)):
            cuda = cuda[0]
        torch.cuda.set_rng_state(cuda.cpu())

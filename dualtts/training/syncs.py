"""Counting host syncs: the tensor operations that make the CPU wait for the accelerator.

``with HostSyncs() as s: step()`` then ``s.count`` / ``s.where``. Each call that reads a device value on the host
(``item``, ``bool``/``float``/``int`` of a tensor, ``tolist``, ``numpy``, a copy to the CPU) or whose output size
depends on device values (``nonzero``, boolean-mask indexing, ``unique``, ``bincount``, ``masked_select``,
``repeat_interleave`` without ``output_size``) is counted, with the line of project code that made it.

On a GPU this is what ``torch.cuda.set_sync_debug_mode`` reports; this counter works on any device, so a CPU
test can hold a loop to its syncs: ``all_devices=True`` counts operations on CPU tensors too (on a CPU every
tensor is there), otherwise only those on another device.
"""
from __future__ import annotations

import traceback
from collections import Counter

import torch
from torch.overrides import TorchFunctionMode

_READS = {"item", "__bool__", "__float__", "__int__", "__index__", "tolist"}
_SIZED = {"nonzero", "argwhere", "unique", "unique_consecutive", "bincount", "masked_select", "nonzero_static"}


def _tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for y in x:
            yield from _tensors(y)


class HostSyncs(TorchFunctionMode):
    def __init__(self, all_devices: bool = False):
        super().__init__()
        self.all_devices = all_devices
        self.where: Counter = Counter()  # "op at file:line" -> count

    @property
    def count(self) -> int:
        return sum(self.where.values())

    def _syncs(self, name: str, args, kwargs) -> bool:
        first = next(_tensors(args), None)
        if first is None:
            return False
        if name in ("to", "cpu", "numpy"):  # a copy to the host (seen only from another device)
            if first.device.type == "cpu":
                return False
            if name != "to":
                return True
            dev = kwargs.get("device", next((a for a in args[1:] if isinstance(a, (str, torch.device))), None))
            return dev is not None and torch.device(dev).type == "cpu"
        if not (self.all_devices or first.device.type != "cpu"):
            return False
        if name in _READS or name in _SIZED:
            return True
        if name == "__getitem__":  # boolean-mask indexing: the result's size is a device value
            return any(t.dtype == torch.bool for t in _tensors(args[1:]))
        if name == "repeat_interleave":
            return "output_size" not in kwargs and any(isinstance(a, torch.Tensor) for a in args[1:2])
        if name == "where":
            return len(args) + len(kwargs) == 1
        return False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if self._syncs(name, args, kwargs):
            here = next((f for f in reversed(traceback.extract_stack()[:-1]) if "/torch/" not in f.filename), None)
            self.where[f"{name} at {'/'.join(here.filename.split('/')[-2:])}:{here.lineno}" if here else name] += 1
        return func(*args, **kwargs)

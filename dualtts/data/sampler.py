"""Duration-bucketed batching with padding masks.

:class:`BucketBatchSampler` groups utterances of similar length so that little compute goes to
padding; batches are capped by total seconds (``max_seconds``) and/or count (``batch_size``),
reshuffled every epoch from ``seed + epoch``, and split across DDP ranks (``num_replicas`` /
``rank``) so that every rank gets the same number of batches.
"""
from __future__ import annotations

import math
import random
from typing import Iterator, Sequence

import torch


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    def __init__(
        self,
        durations: Sequence[float],
        batch_size: int | None = None,
        max_seconds: float | None = None,
        num_buckets: int = 10,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if batch_size is None and max_seconds is None:
            raise ValueError("give batch_size and/or max_seconds")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.durations = list(map(float, durations))
        self.batch_size, self.max_seconds = batch_size, max_seconds
        self.num_buckets, self.shuffle, self.drop_last = max(1, num_buckets), shuffle, drop_last
        self.seed, self.epoch = seed, 0
        self.num_replicas, self.rank = num_replicas, rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        order = sorted(range(len(self.durations)), key=lambda i: self.durations[i])
        size = math.ceil(len(order) / self.num_buckets) if order else 1
        buckets = [order[i : i + size] for i in range(0, len(order), size)]
        batches: list[list[int]] = []
        for bucket in buckets:
            if self.shuffle:
                rng.shuffle(bucket)
            cur: list[int] = []
            longest = 0.0
            for i in bucket:
                d = self.durations[i]
                full_count = self.batch_size is not None and len(cur) >= self.batch_size
                full_secs = self.max_seconds is not None and cur and max(longest, d) * (len(cur) + 1) > self.max_seconds
                if cur and (full_count or full_secs):
                    batches.append(cur)
                    cur, longest = [], 0.0
                cur.append(i)
                longest = max(longest, d)
            if cur and not (self.drop_last and self.batch_size is not None and len(cur) < self.batch_size):
                batches.append(cur)
        if self.shuffle:
            rng.shuffle(batches)
        if self.num_replicas > 1:
            n = len(batches) // self.num_replicas * self.num_replicas
            if n == 0 and batches:  # fewer batches than ranks: repeat so each rank has one
                batches = (batches * self.num_replicas)[: self.num_replicas]
                n = self.num_replicas
            batches = batches[:n][self.rank :: self.num_replicas]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


def pad_batch(items: Sequence[torch.Tensor], pad_value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad along the last axis.

    items: each ``[..., T_i]`` with equal leading shapes -> ``(padded [B, ..., T_max], mask [B, T_max])``
    where ``mask`` is True on real samples.
    """
    if not items:
        raise ValueError("pad_batch needs at least one item")
    lengths = torch.tensor([x.shape[-1] for x in items])
    t_max = int(lengths.max())
    out = items[0].new_full((len(items), *items[0].shape[:-1], t_max), pad_value)
    for b, x in enumerate(items):
        out[b, ..., : x.shape[-1]] = x
    mask = torch.arange(t_max)[None, :] < lengths[:, None]
    return out, mask

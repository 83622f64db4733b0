"""Rows for training, validation and testing, and the order training visits them in.

``split_indices`` is a seeded 70/10/20 split of row positions; ``EpochBatches`` deals
the training rows out in minibatches, a fresh seeded permutation every epoch. Both
depend only on the seed, so runs that differ only in their method see the same rows
in the same order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

SPLIT_FRACTIONS = (0.7, 0.1, 0.2)


def split_indices(n_rows: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded 70/10/20 split of row positions."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_train = round(SPLIT_FRACTIONS[0] * n_rows)
    n_val = round(SPLIT_FRACTIONS[1] * n_rows)
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }


class EpochBatches:
    """Minibatches of ``rows``, each epoch a new permutation drawn from one seeded generator."""

    def __init__(self, rows: np.ndarray, batch_size: int, seed: int):
        self.rows = torch.as_tensor(rows)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.long)  # this epoch's permutation of the rows
        self.position = 0  # how many rows of `order` have been dealt
        self.epochs_done = 0

    @property
    def epoch(self) -> float:
        """Epochs so far, counting the current one's dealt fraction."""
        return self.epochs_done + self.position / max(1, len(self.order) or len(self.rows))

    def next_rows(self) -> torch.Tensor:
        if self.position >= len(self.order):
            if len(self.order):
                self.epochs_done += 1
            self.order = self.rows[torch.randperm(len(self.rows), generator=self.generator)]
            self.position = 0
        rows = self.order[self.position : self.position + self.batch_size]
        self.position += len(rows)
        return rows

    def state_dict(self) -> dict[str, Any]:
        """The generator and the place in the epoch (the keys a Trainer checkpoint has always used)."""
        return {
            "batch_generator": self.generator.get_state(),
            "epoch_order": self.order.cpu(),
            "epoch_pos": self.position,
            "epochs_done": self.epochs_done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["batch_generator"])
        self.order = state["epoch_order"]
        self.position = state["epoch_pos"]
        self.epochs_done = state["epochs_done"]

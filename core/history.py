"""A bounded record of a long run: at most ``capacity`` points, whatever the run's length.

Points are numbered in arrival order (their *ordinal*: 0, 1, 2, ...). After ``n``
appends the history holds exactly the ordinals

    {i < n : i % stride == 0}  U  {n - 1}

with ``stride`` the smallest power of two that fits them into ``capacity``. So the
first point and the newest point are always there, the rest lie on an even grid,
and which points are kept depends only on ``n`` -- two runs of the same length keep
the same points. When the grid fills up, every other grid point is dropped and the
stride doubles; memory never grows past ``capacity`` rows per field.

Each point is a set of named fields: numbers, strings, or fixed-shape arrays (one
value per column, say). Storage is one preallocated numpy array per field: float64
for numbers (None becomes NaN), objects for anything else.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class History:
    def __init__(self, capacity: int = 2000):
        if capacity < 2:
            raise ValueError(
                f"a history keeps the first and the last point: capacity must be at least 2, got {capacity}"
            )
        self.capacity = capacity
        self.stride = 1
        self.n_appended = 0
        self._count = 0
        self._ordinals = np.empty(capacity, dtype=np.int64)
        self._fields: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self._count

    @property
    def names(self) -> list[str]:
        return list(self._fields)

    @property
    def ordinals(self) -> np.ndarray:
        """Arrival numbers of the kept points, increasing."""
        return self._ordinals[: self._count].copy()

    def append(self, **values: object) -> None:
        """Add one point; the fields must be the same at every call, with the same shapes."""
        if not values:
            raise ValueError("a point needs at least one field")
        arrays = {name: np.asarray(np.nan if value is None else value) for name, value in values.items()}
        if self._fields:
            self._check_fields(arrays)
        else:
            self._fields = {
                name: np.empty((self.capacity, *a.shape), dtype=_storage_dtype(a)) for name, a in arrays.items()
            }
        # The previous newest point stays only if it lies on the grid.
        if self._count and self._ordinals[self._count - 1] % self.stride:
            self._count -= 1
        if self._count == self.capacity:
            self._thin()
        slot = self._count
        self._ordinals[slot] = self.n_appended
        for name, a in arrays.items():
            # item() unwraps a single value: object fields hold a plain str, not a 0-d array
            self._fields[name][slot] = a.item() if a.ndim == 0 else a
        self._count += 1
        self.n_appended += 1

    def _check_fields(self, arrays: dict[str, np.ndarray]) -> None:
        if set(arrays) != set(self._fields):
            raise ValueError(f"a point must have the fields {sorted(self._fields)}, got {sorted(arrays)}")
        for name, a in arrays.items():
            if a.shape != self._fields[name].shape[1:]:
                raise ValueError(
                    f"field {name!r} has shape {a.shape}, earlier points had {self._fields[name].shape[1:]}"
                )

    def _thin(self) -> None:
        """Double the stride and keep the grid points of the new stride, in place."""
        self.stride *= 2
        keep = np.flatnonzero(self._ordinals[: self._count] % self.stride == 0)
        self._count = len(keep)
        self._ordinals[: self._count] = self._ordinals[keep]
        for stored in self._fields.values():
            stored[: self._count] = stored[keep]

    def field(self, name: str) -> np.ndarray:
        """A copy of one field over the kept points: shape (len(self),) + the field's shape."""
        if name not in self._fields:
            raise KeyError(name)
        return self._fields[name][: self._count].copy()

    def last(self, name: str) -> Any:
        """The newest point's value of one field."""
        if not self._count:
            raise IndexError("the history is empty")
        return self._fields[name][self._count - 1].copy()

    def clear(self) -> None:
        """Forget every point (the fields too); the capacity stays."""
        self.stride = 1
        self.n_appended = 0
        self._count = 0
        self._fields = {}


def _storage_dtype(value: np.ndarray) -> np.dtype:
    # Numbers as float64, so that a first integer value cannot truncate later fractional
    # ones; strings as objects, as a fixed-width unicode dtype would cut longer later values.
    if value.dtype.kind in "biuf":
        return np.dtype(np.float64)
    return np.dtype(object)

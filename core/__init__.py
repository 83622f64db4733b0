"""overlook: heterogeneous-table VAEs that find and fix the columns they overlook.

What most users need is one name, loaded on first use (``import core.schema`` stays light):

    from core import TableModel
"""

from __future__ import annotations

from typing import Any

__all__ = ["TableModel"]


def __getattr__(name: str) -> Any:
    if name == "TableModel":
        from core.api import TableModel

        return TableModel
    raise AttributeError(f"module 'core' has no attribute {name!r}")

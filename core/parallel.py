"""Independent tasks spread over worker processes: the one place that knows how.

``run_tasks(work, context, tasks, workers, on_done)`` calls ``work(context, task)``
for every task and hands each result to ``on_done`` as it finishes, in any order.
``context`` (the table, the settings) travels once to each worker, not once per
task. Workers are fresh interpreters ("spawn"), so no torch thread pool is forked
mid-use, and each runs torch on one thread: the workers themselves use the cores.
Ending the call early (an exception, Ctrl-C) stops every worker.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

Context = TypeVar("Context")
Task = TypeVar("Task")
Result = TypeVar("Result")

# What each worker process holds: the work function and its context.
_worker: dict[str, Any] = {}


def run_tasks(
    work: Callable[[Context, Task], Result],
    context: Context,
    tasks: Sequence[Task],
    workers: int | None = None,
    on_done: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Every task's result, in the order they finished. ``work`` must be a module-level
    function (workers find it by name); ``workers`` defaults to the number of CPUs and is
    never more than the number of tasks."""
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    results: list[Result] = []
    with multiprocessing.get_context("spawn").Pool(
        n_workers, initializer=_start_worker, initargs=(work, context)
    ) as pool:
        for result in pool.imap_unordered(_run_in_worker, tasks):
            results.append(result)
            if on_done is not None:
                on_done(result)
    return results


def _start_worker(work: Callable[[Any, Any], Any], context: Any) -> None:
    torch.set_num_threads(1)
    _worker.update(work=work, context=context)


def _run_in_worker(task: Any) -> Any:
    return _worker["work"](_worker["context"], task)

"""Independent tasks spread over workers, on the project's one grid engine (``core.ray_engine``).

``run_tasks(work, context, tasks, workers, on_done)`` calls ``work(context, task)``
for every task on a local Ray with ``workers`` CPUs and hands each result to
``on_done`` as it finishes, in any order. ``context`` (the table, the settings) goes
into Ray's object store once, not once per task. Each task runs torch on one thread:
the workers themselves use the cores. Ending the call early (an exception, Ctrl-C)
cancels every task and stops Ray.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from core.ray_engine import Finished, RaySession, Task

Context = TypeVar("Context")
Item = TypeVar("Item")
Result = TypeVar("Result")


def run_tasks(
    work: Callable[[Context, Item], Result],
    context: Context,
    tasks: Sequence[Item],
    workers: int | None = None,
    on_done: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Every task's result, in the order they finished. ``work`` must be a module-level
    function (workers find it by name); ``workers`` defaults to the number of CPUs and is
    never more than the number of tasks. A task that raises ends the call with a
    RuntimeError naming its error."""
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    results: list[Result] = []

    def collect(finished: Finished) -> list[Task]:
        if finished.error is not None:
            raise RuntimeError(f"a task failed: {finished.error}")
        results.append(finished.value)
        if on_done is not None:
            on_done(finished.value)
        return []

    with RaySession(workers=n_workers) as session:
        shared = session.put(context)
        session.run([Task(str(i), work, (shared, task), priority=(i,)) for i, task in enumerate(tasks)], collect)
    return results

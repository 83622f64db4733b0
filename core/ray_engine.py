"""The grid engine: independent tasks (training runs) as Ray tasks, on this machine or a cluster.

``RaySession`` opens Ray for a grid:

- without an address it starts a private local Ray with ``workers`` CPUs, bound to
  127.0.0.1, dashboard and usage reporting off, and stops it when the grid ends: nothing
  to install or start by hand, nothing reachable from outside the machine;
- with ``HOST:PORT`` (or ``auto``) it joins a running cluster (whose nodes need the same
  third-party packages) and leaves it running when it disconnects; tasks then fan out
  over the cluster's nodes, and ask for a share of a GPU where the cluster has GPUs;
- in a process that already runs Ray (a test session, a notebook) it uses that as is.

Either way the workers import this package from a copy taken when the session starts.

``RaySession.run`` runs tasks in priority order, at most one per free slot (the CPUs
divided by the CPUs per task), so priorities hold and an interrupt has little to
cancel. Each task is ``function(*args)`` in a worker with as many torch threads as it
has CPUs; arguments may be object references (``put``), resolved in the worker. A task
whose worker dies is retried (``MAX_RETRIES``); an exception raised by the function
is not retried: it comes back as the task's ``error``. ``on_finished`` sees every
result as it arrives and may return more tasks (a scan that has chosen a method adds
that method's seeds). On KeyboardInterrupt the results already finished are handed to
``on_finished``, the others cancelled, and the interrupt raised again; an exception
raised by ``on_finished`` or ``report`` cancels the tasks still running, too.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import signal
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from core.errors import DataError

MAX_RETRIES = 3
CONNECT_TIMEOUT_S = 5.0
GPU_SHARE = 0.25  # of one GPU per task, by default, on a cluster with GPUs: the models are small
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # a session turns both into KeyboardInterrupt
_WAIT_S = 1.0  # how long one wait for results blocks, so Ctrl-C is seen promptly


@dataclass(frozen=True)
class Task:
    key: str  # unique within a grid
    function: Callable[..., Any]  # a module-level function: it is imported by name in the worker
    args: tuple = ()
    priority: tuple = ()  # lower runs first
    cost: float = 1.0  # the relative amount of work, for the time estimate
    cost_group: str = ""  # tasks whose time per unit of cost is alike (one model, say)
    units: int = 1  # what the progress counts it as: the trials of a bundle, say


@dataclass(frozen=True)
class Finished:
    task: Task
    value: Any  # what the function returned; None when it failed
    error: str | None
    seconds: float  # in the worker (0 when the worker died)
    node: str


@dataclass(frozen=True)
class Progress:
    """Counts in units (``Task.units``): a bundle of trials counts as its trials."""

    done: int
    running: int
    left: int  # neither done nor running, including tasks not yet known (``upcoming``)
    elapsed: float
    eta: float | None  # seconds, once a task has finished
    finished: Finished


OnFinished = Callable[[Finished], Iterable[Task]]
Upcoming = Callable[[], tuple[int, float]]  # (number, total cost) of tasks on_finished will add


class RaySession:
    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        cpus_per_task: int = 1,
        gpus_per_task: float | None = None,
    ) -> None:
        if address is not None:
            _check_address(address)
        if gpus_per_task is not None and not gpus_per_task >= 0:  # NaN too
            raise DataError(f"the GPUs per task must be 0 or more, got {gpus_per_task:g}")
        self.workers = workers
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task or 0.0
        self._gpus_asked = gpus_per_task
        self._owned = False
        self._auth_mode_set = False
        self._signal_handlers: dict[int, Any] = {}
        self.slots = 1

    def __enter__(self) -> RaySession:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        local = self.address is None or _host(self.address) in _LOCAL_HOSTS
        if local:
            # Ray swaps 127.0.0.1 for the machine's public address unless told it runs alone.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        self._auth_mode_set = self.address is not None and "RAY_AUTH_MODE" not in os.environ and _has_auth_token()
        if self._auth_mode_set:
            # Read when ray is imported. A token-mode driver also joins clusters without tokens.
            os.environ["RAY_AUTH_MODE"] = "token"
        if threading.current_thread() is threading.main_thread():
            # Saved before Ray starts: it installs a SIGTERM handler of its own.
            self._signal_handlers = {number: signal.getsignal(number) for number in STOP_SIGNALS}
        try:
            self._start(local)
            self._stop_cleanly_on_signals()
            return self
        except BaseException:
            self.__exit__(None, None, None)  # a session that did not start leaves nothing behind
            raise

    def _start(self, local: bool) -> RaySession:
        import ray

        if not ray.is_initialized():
            self._owned = True
            if self.address is None:
                ray.init(
                    num_cpus=self.workers or os.cpu_count() or 1,
                    _node_ip_address="127.0.0.1",
                    include_dashboard=False,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                    runtime_env=_code_snapshot(),
                )
            else:
                self._join(local)
        self._remote = ray.remote(_execute)
        resources = ray.cluster_resources()
        if self._gpus_asked is None:
            self.gpus_per_task = GPU_SHARE if resources.get("GPU", 0) > 0 else 0.0
        slots = int(resources.get("CPU", 1) // self.cpus_per_task)
        if self.gpus_per_task > 0:
            slots = min(slots, int(resources.get("GPU", 0) / self.gpus_per_task))
        if self.address is not None and self.workers:
            slots = min(slots, self.workers)
        if slots < 1:
            raise DataError(f"the Ray cluster has no room for a task ({resources.get('CPU', 0):g} CPUs)")
        self.slots = slots
        return self

    def _join(self, local: bool) -> None:
        import ray

        if self.address != "auto":
            host, port = _host(self.address or ""), int((self.address or "").rsplit(":", 1)[1])
            try:
                socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
            except OSError as error:
                raise DataError(f"cannot reach a Ray cluster at {self.address}: {error}") from None
        try:
            ray.init(
                address=self.address,
                _node_ip_address="127.0.0.1" if local else None,
                logging_level=logging.ERROR,
                log_to_driver=False,
                runtime_env=_code_snapshot(),
            )
        except (ConnectionError, RuntimeError) as error:
            raise DataError(f"cannot join the Ray cluster at {self.address}: {str(error).splitlines()[0]}") from None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        import ray

        if self._owned and ray.is_initialized():
            ray.shutdown()
        for number, handler in self._signal_handlers.items():
            if handler is not None:  # None: set outside Python, nothing to give back
                signal.signal(number, handler)
        self._signal_handlers = {}
        if self._auth_mode_set:
            # Left set, a later local session of this process would start its cluster's processes
            # in token mode while its driver, configured at import, is not: they cannot talk.
            os.environ.pop("RAY_AUTH_MODE", None)

    def _stop_cleanly_on_signals(self) -> None:
        """Ctrl-C and ``kill`` (SIGTERM) stop the driver as Ctrl-C does, with KeyboardInterrupt, so
        the caller keeps what finished. SIGINT is set explicitly: a command started in the
        background by a shell without job control has it ignored."""

        def stop(number: int, frame: object) -> None:
            raise KeyboardInterrupt

        for number in self._signal_handlers:
            signal.signal(number, stop)

    def put(self, value: object) -> Any:
        """``value`` in Ray's object store, once for every task that takes it as an argument."""
        import ray

        return ray.put(value)

    def run(
        self,
        tasks: Iterable[Task],
        on_finished: OnFinished | None = None,
        upcoming: Upcoming | None = None,
        report: Callable[[Progress], None] | None = None,
    ) -> list[Finished]:
        """Run every task (and those ``on_finished`` adds); the results in the order they finished."""
        import ray

        order = itertools.count()
        pending: list[tuple[tuple, int, Task]] = []
        in_flight: dict[Any, tuple[Task, float]] = {}
        rates = _Rates()
        results: list[Finished] = []
        started = time.perf_counter()
        room = [self.slots]  # tasks that may run at once; 0 once interrupted

        def add(new: Iterable[Task]) -> None:
            for task in new:
                heapq.heappush(pending, (task.priority, next(order), task))

        def fill() -> None:
            while pending and len(in_flight) < room[0]:
                task = heapq.heappop(pending)[2]
                in_flight[self._submit(task)] = (task, time.perf_counter())

        def deliver(ref: Any) -> None:
            task, _ = in_flight.pop(ref)
            finished = _collect(ref, task)
            results.append(finished)
            rates.add(finished)
            if on_finished is not None:
                add(on_finished(finished))
            fill()  # before the report, so that it counts what runs now
            if report is not None:
                report(self._progress(finished, pending, in_flight, rates, upcoming, started))

        add(tasks)
        try:
            while pending or in_flight:
                fill()
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_WAIT_S)
                for ref in ready:
                    deliver(ref)
        except BaseException as error:  # Ctrl-C, or on_finished or report raised
            room[0] = 0  # nothing new starts while the finished results are handed over
            if isinstance(error, KeyboardInterrupt) and in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
                for ref in ready:
                    deliver(ref)
            for ref in in_flight:
                ray.cancel(ref, force=True)
            raise
        return results

    def _submit(self, task: Task) -> Any:
        options: dict[str, Any] = {
            "num_cpus": self.cpus_per_task,
            "max_retries": MAX_RETRIES,
            "retry_exceptions": False,
        }
        if self.gpus_per_task > 0:
            options["num_gpus"] = self.gpus_per_task
        return self._remote.options(**options).remote(task.function, self.cpus_per_task, *task.args)

    def _progress(
        self,
        finished: Finished,
        pending: list[tuple[tuple, int, Task]],
        in_flight: dict[Any, tuple[Task, float]],
        rates: _Rates,
        upcoming: Upcoming | None,
        started: float,
    ) -> Progress:
        later_count, later_cost = upcoming() if upcoming is not None else (0, 0.0)
        now = time.perf_counter()
        waiting = [t for _, _, t in pending]
        eta = None
        overall = rates.per_cost("")
        if overall is not None:

            def seconds(task: Task) -> float:
                return task.cost * (rates.per_cost(task.cost_group) or overall)

            work = sum(seconds(t) for t in waiting) + later_cost * overall
            work += sum(max(0.0, seconds(t) - (now - since)) for t, since in in_flight.values())
            eta = work / self.slots
        return Progress(
            done=rates.count,
            running=sum(t.units for t, _ in in_flight.values()),
            left=sum(t.units for t in waiting) + later_count,
            elapsed=now - started,
            eta=eta,
            finished=finished,
        )


def _execute(function: Callable[..., Any], threads: int, *args: Any) -> tuple[Any, float, str]:
    """What a worker runs: the function, with ``threads`` torch threads."""
    from core.threads import use_training_threads

    use_training_threads(threads)
    started = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - started, socket.gethostname()


def _collect(ref: Any, task: Task) -> Finished:
    import ray

    try:
        value, seconds, node = ray.get(ref)
    except ray.exceptions.RayTaskError as error:  # the function raised
        cause = error.cause if error.cause is not None else error
        return Finished(task, None, f"{type(cause).__name__}: {_one_line(cause)}", 0.0, "")
    except ray.exceptions.RayError as error:  # the worker or its node died MAX_RETRIES + 1 times
        return Finished(task, None, f"{type(error).__name__}: {_one_line(error)}", 0.0, "")
    return Finished(task, value, None, seconds, node)


class _Rates:
    """Seconds per unit of cost, per cost group and overall, from the finished tasks."""

    def __init__(self) -> None:
        self.count = 0
        self._seconds: dict[str, float] = defaultdict(float)
        self._cost: dict[str, float] = defaultdict(float)

    def add(self, finished: Finished) -> None:
        self.count += finished.task.units
        if finished.error is None and finished.task.cost > 0:
            for group in ("", finished.task.cost_group):
                self._seconds[group] += finished.seconds
                self._cost[group] += finished.task.cost

    def per_cost(self, group: str) -> float | None:
        return self._seconds[group] / self._cost[group] if self._cost.get(group) else None


def _code_snapshot() -> dict:
    """The workers import this package from a copy taken when the session starts: a long grid
    runs the code it started with even while the files change, and a cluster's nodes get it.
    A new dict each time: Ray rewrites it in place with the uploaded copy's address."""
    return {"py_modules": [str(Path(__file__).resolve().parent)], "excludes": ["__pycache__"]}


def _check_address(address: str) -> None:
    if address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DataError(f"--address must be HOST:PORT or auto, got {address!r}")


def _host(address: str) -> str:
    return address.rpartition(":")[0].strip("[]")


def _has_auth_token() -> bool:
    return bool(
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").exists()
    )


def _one_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[-1].split()) if lines else type(error).__name__

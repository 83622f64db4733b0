"""The training worker processes of one server, and which session trains in which.

Workers are started with multiprocessing's "forkserver" method: a clean process that has
imported the worker module (torch included) once, from which each worker is forked -- never
a fork of the threaded server itself. There are ``workers`` of them (default: the cores;
env OVERLOOK_TRAINING_WORKERS), each started on first use and restarted after it dies. A
session is placed on the worker hosting the fewest; past ``max_sessions`` (env
OVERLOOK_MAX_TRAINING_SESSIONS) ``open`` raises PoolFull. A session nobody has called for
``idle_seconds`` (env OVERLOOK_IDLE_SECONDS) is released; its next call raises SessionEnded,
and its owner may open it again from its last checkpoint.

Each worker takes one command at a time: a call holds that worker's lock from sending the
command to reading the reply, so calls from several server threads never interleave.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from core.workers.live import CHECKPOINT_SECONDS
from core.workers.worker import serve

WORKERS_ENV = "OVERLOOK_TRAINING_WORKERS"
MAX_SESSIONS_ENV = "OVERLOOK_MAX_TRAINING_SESSIONS"
IDLE_SECONDS_ENV = "OVERLOOK_IDLE_SECONDS"
SESSIONS_PER_WORKER = 8  # the default limit: this many training sessions per worker
IDLE_SECONDS = 600.0
REAP_EVERY_SECONDS = 30.0


class PoolFull(Exception):
    """No room for another training session."""


class SessionEnded(Exception):
    """The session is no longer in any worker: released as idle, or its worker died."""


class WorkerLost(SessionEnded):
    """The session's worker died while the call was in flight (or before it)."""


@dataclass
class _Worker:
    process: Any  # a multiprocessing Process
    conn: Connection
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Session:
    worker: int
    last_call: float


class TrainingPool:
    def __init__(
        self,
        workers: int | None = None,
        max_sessions: int | None = None,
        idle_seconds: float | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ):
        """``checkpoint_seconds``: how often a run's fetches bring its state back (``core.workers.live``)."""
        self.size = workers or _env_int(WORKERS_ENV) or os.cpu_count() or 1
        self.max_sessions = max_sessions or _env_int(MAX_SESSIONS_ENV) or SESSIONS_PER_WORKER * self.size
        self.idle_seconds = idle_seconds or float(_env_int(IDLE_SECONDS_ENV) or IDLE_SECONDS)
        self.checkpoint_seconds = checkpoint_seconds
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["core.workers.worker"])
        self._lock = threading.Lock()
        self._workers: list[_Worker | None] = [None] * self.size
        self._sessions: dict[str, _Session] = {}
        self._ended: dict[str, str] = {}  # session -> why it is no longer in a worker
        self._last_reap = time.monotonic()

    # --- sessions ---------------------------------------------------------------------
    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def open(self, session: str, *create_args: Any, command: str = "create") -> Any:
        """Place ``session`` on the least-loaded worker and build what it trains there: for
        "create" a ``LiveRun`` (its table, schema, config and state), for "create_comparison" a
        ``LiveComparison``; the worker's reply. PoolFull when at the limit."""
        if len(self._sessions) >= self.max_sessions:
            # A closed tab's state may sit in a reference cycle: collecting it now runs its
            # RemoteTrainer's finalizer, which gives its place back (outside the lock it takes).
            gc.collect()
        with self._lock:
            self._reap()
            if session not in self._sessions:
                if len(self._sessions) >= self.max_sessions:
                    raise PoolFull(
                        f"the server is training {len(self._sessions)} sessions, the most it allows; "
                        "you can still browse the data and the lesson"
                    )
                loads = [sum(s.worker == i for s in self._sessions.values()) for i in range(self.size)]
                index = loads.index(min(loads))
                self._running(index)  # a dead worker is replaced before the session joins it
                self._sessions[session] = _Session(index, time.monotonic())
            self._ended.pop(session, None)
        try:
            if command == "create":
                create_args = (*create_args, self.checkpoint_seconds)
            return self.call(session, command, *create_args)
        except BaseException:
            with self._lock:
                self._sessions.pop(session, None)
            raise

    def close(self, session: str) -> None:
        """Release the session's slot; its run is dropped from its worker."""
        with self._lock:
            placed = self._sessions.pop(session, None)
            self._ended.pop(session, None)
            worker = None if placed is None else self._workers[placed.worker]
        if worker is not None and worker.process.is_alive():
            try:
                with worker.lock:
                    worker.conn.send(("close", session, ()))
                    worker.conn.recv()
            except (EOFError, OSError):
                pass  # a dead worker holds nothing any more

    def call(self, session: str, command: str, *args: Any) -> tuple[str, Any, Any]:
        """Send one command for ``session`` and return the worker's reply."""
        with self._lock:
            self._reap()
            placed = self._sessions.get(session)
            if placed is not None:
                worker = self._workers[placed.worker]
                if worker is not None and not worker.process.is_alive():  # died since the last call
                    self._forget(placed.worker, worker)
                    placed = None
            if placed is None:
                raise SessionEnded(self._ended.get(session, "released"))
            placed.last_call = time.monotonic()
            index = placed.worker
            worker = self._running(index)
        with worker.lock:
            try:
                worker.conn.send((command, session, args))
                return worker.conn.recv()
            except (EOFError, OSError):
                reason = self._lost(index, worker)
        raise WorkerLost(reason)

    def pids(self) -> list[int | None]:
        """The worker processes' ids (None: not started), for benches and tests."""
        return [None if w is None else w.process.pid for w in self._workers]

    def shutdown(self) -> None:
        for index, worker in enumerate(self._workers):
            if worker is not None:
                worker.process.kill()
                worker.process.join(5)
                self._workers[index] = None
        self._sessions.clear()

    # --- workers ----------------------------------------------------------------------
    def _running(self, index: int) -> _Worker:
        """Worker ``index``, started if it is not (under ``_lock``)."""
        worker = self._workers[index]
        if worker is not None and not worker.process.is_alive():
            self._forget(index, worker)
            worker = None
        if worker is None:
            parent, child = self._context.Pipe()
            process = self._context.Process(target=serve, args=(child,), name=f"overlook-training-{index}", daemon=True)
            with _main_module_hidden():
                process.start()
            child.close()
            worker = self._workers[index] = _Worker(process, parent)
        return worker

    def _lost(self, index: int, worker: _Worker) -> str:
        with self._lock:
            return self._forget(index, worker)

    def _forget(self, index: int, worker: _Worker) -> str:
        """A dead worker: its sessions are ended, the next call starts a new process."""
        worker.process.join(1)
        code = worker.process.exitcode
        reason = f"the training worker stopped (exit code {code})"
        if self._workers[index] is worker:
            self._workers[index] = None
            for name in [n for n, s in self._sessions.items() if s.worker == index]:
                del self._sessions[name]
                self._ended[name] = reason
        worker.conn.close()
        return reason

    def _reap(self) -> None:
        """Release sessions idle past ``idle_seconds`` (under ``_lock``; at most every REAP_EVERY_SECONDS)."""
        now = time.monotonic()
        if now - self._last_reap < min(REAP_EVERY_SECONDS, self.idle_seconds):
            return
        self._last_reap = now
        idle = [n for n, s in self._sessions.items() if now - s.last_call > self.idle_seconds]
        for name in idle:
            placed = self._sessions.pop(name)
            self._ended[name] = "released"
            worker = self._workers[placed.worker]
            if worker is not None and worker.process.is_alive():
                threading.Thread(target=_drop, args=(worker, name), daemon=True).start()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """A new worker would import the starting process's main module first (multiprocessing does
    that for "spawn" and "forkserver" children) -- under streamlit that is the app's script,
    which would then run inside the worker. While a worker starts, ``__main__`` is a blank
    module, with no file to import."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _drop(worker: _Worker, session: str) -> None:
    try:
        with worker.lock:
            worker.conn.send(("close", session, ()))
            worker.conn.recv()
    except (EOFError, OSError):
        pass


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


_default: TrainingPool | None = None
_default_lock = threading.Lock()


def default_pool() -> TrainingPool:
    """This process's pool, made on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = TrainingPool()
        return _default

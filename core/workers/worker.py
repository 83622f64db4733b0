"""A training worker process's loop.

The server sends one command at a time over the pipe, ``(command, session, args)``, and
waits for its reply; between commands the worker trains what it hosts that can train (a
playing ``LiveRun``, a shown ``LiveComparison`` or ``LiveRace``), a slice of about SLICE_SECONDS each in
turn, so a command waits at most a slice and no session starves another. With nothing to
train it blocks on the pipe and costs nothing.

Replies are ``(outcome, value, facts)``: outcome "ok" with the command's value, or the kind
of error ("DataError", "TrainingError", "internal") with its one-line message; facts are the
session's ``Facts`` after the command (None once the session is closed).
"""

from __future__ import annotations

import logging
import pickle
from multiprocessing.connection import Connection
from typing import Any

from core.errors import DataError, TrainingError
from core.threads import use_training_threads
from core.workers.live import LiveRun
from core.workers.live_comparison import LiveComparison
from core.workers.live_race import LiveRace

SLICE_SECONDS = 0.02
# What each "create" command hosts, its reply the object's ``created()``; a command names a
# method of the session's object, one of its class's COMMANDS. "close" is the worker's own.
HOSTED: dict[str, type[LiveRun] | type[LiveComparison] | type[LiveRace]] = {
    "create": LiveRun,
    "create_comparison": LiveComparison,
    "create_race": LiveRace,
}
Hosted = LiveRun | LiveComparison | LiveRace

_log = logging.getLogger(__name__)


def serve(conn: Connection) -> None:
    """Run until the server closes the pipe (or sends None)."""
    use_training_threads()
    runs: dict[str, Hosted] = {}
    turn = 0
    while True:
        runnable = [run for run in runs.values() if run.runnable]
        if runnable and not conn.poll(0):
            run = runnable[turn % len(runnable)]
            turn += 1
            try:
                run.train_for(SLICE_SECONDS)
            except Exception as error:  # a bug stops this run, not the worker nor its other runs
                _log.exception("training step failed")
                run.stop(f"training stopped by an internal error: {one_line(error)}")
            continue
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        if message is None:
            return
        reply = handle(runs, *message)
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            conn.send(("internal", f"the reply could not be sent ({one_line(error)})", reply[2]))


def handle(runs: dict[str, Hosted], command: str, session: str, args: tuple[Any, ...]) -> tuple[str, Any, Any]:
    try:
        if command in HOSTED:
            runs[session] = hosted = HOSTED[command](*args)
            value = hosted.created()
        elif command == "close":
            runs.pop(session, None)
            value = None
        elif session not in runs:
            raise LookupError(f"no run {session!r} in this worker")
        elif command in type(runs[session]).COMMANDS:
            value = getattr(runs[session], command)(*args)
        else:
            raise LookupError(f"unknown command {command!r}")
    except DataError as error:
        return "DataError", str(error), _facts(runs, session)
    except TrainingError as error:
        return "TrainingError", str(error), _facts(runs, session)
    except Exception as error:  # a bug: one line back to the page, the traceback to the worker's log
        _log.exception("command %s failed", command)
        return "internal", one_line(error), _facts(runs, session)
    return "ok", value, _facts(runs, session)


def _facts(runs: dict[str, Hosted], session: str) -> Any:
    run = runs.get(session)
    return None if run is None else run.facts


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__

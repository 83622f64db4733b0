"""``python -m core reproduce``: the paper's Table 1 protocol (``core.reproduce``) from the
command line, with a progress line per finished trial and a clean stop on Ctrl-C."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.cli_types import duration, positive_int, print_error
from core.errors import DataError
from core.paper_table1 import CANDIDATES, DATASETS, MODELS
from core.ray_engine import Progress, RaySession
from core.reproduce import Protocol, Reproduction
from core.table1_overrides import parse_override
from core.trial import Trial

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
_BAR = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=",".join(MODELS), metavar="LIST", help="default: vae,iwae,dreg,hivae")
    parser.add_argument(
        "--datasets", default=",".join(DATASETS), metavar="LIST", help=f"default: all of Table 1 ({','.join(DATASETS)})"
    )
    parser.add_argument("--seeds", type=positive_int, default=5, help="seeds 0..N-1 of plain and of the chosen method")
    parser.add_argument(
        "--epochs", type=positive_int, default=None, help="for every cell (default: the paper's per cell)"
    )
    parser.add_argument(
        "--scan-epochs",
        type=positive_int,
        default=15,
        help="epochs of each candidate's scan run (for one data set: --set Wine.scan_epochs=200)",
    )
    parser.add_argument("--candidates", default=",".join(CANDIDATES), metavar="LIST", help="methods the scan tries")
    parser.add_argument("--workers", type=positive_int, default=None, help="trials at once (default: every CPU)")
    parser.add_argument("--address", metavar="HOST:PORT|auto", help="join this Ray cluster instead of a local Ray")
    parser.add_argument(
        "--gpus-per-trial", type=float, default=None, help=f"default: 0, or a {0.25:g} share on a cluster with GPUs"
    )
    parser.add_argument("--impute", action="store_true", help="the imputation variant (Missing20_1.csv hidden)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[SCOPE.]NAME=VALUE",
        help="override a setting, for a model or data set as SCOPE or for all (e.g. hivae.batch_size=500)",
    )
    parser.add_argument("--out", default="runs/table1", metavar="DIR", help="trials/, choices.json and the tables")


def run(args: argparse.Namespace) -> int:
    overrides = [parse_override(text) for text in args.set]
    if args.epochs is not None:
        overrides.insert(0, parse_override(f"epochs={args.epochs}"))
    protocol = Protocol(
        models=tuple(_names(args.models, list(MODELS), "model")),
        datasets=tuple(_names(args.datasets, list(DATASETS), "data set")),
        seeds=args.seeds,
        scan_epochs=args.scan_epochs,
        candidates=tuple(_items(args.candidates)),
        impute=args.impute,
        overrides=tuple(overrides),
    )
    reproduction = Reproduction(protocol, args.out)
    workers = args.workers or (None if args.address else os.cpu_count())
    try:
        if reproduction.has_work():
            with RaySession(workers=workers, address=args.address, gpus_per_task=args.gpus_per_trial) as session:
                where = f"Ray cluster {args.address}" if args.address else "local Ray"
                _note(f"{where}: {session.slots} trial{'s' if session.slots != 1 else ''} at a time")
                _notes(reproduction, args.out)
                reproduction.run(session, report=_report)
        else:
            _notes(reproduction, args.out)
    except KeyboardInterrupt:
        print_error(
            f"interrupted; {reproduction.ran} trials finished in this run, {len(reproduction.records)} in all, "
            f"are in {args.out}/trials; rerun the same command to resume"
        )
        return EXIT_INTERRUPTED
    for failed in reproduction.failed:
        for trial in failed.task.args[1]:
            _note(f"warning: {_label(trial)} failed: {failed.error} (not recorded; a rerun tries it again)")
    paths = reproduction.write_tables()
    print(Path(paths[1]).read_text())
    print(f"{reproduction.ran} trials run; tables written to {paths[0]} and {paths[1]}")
    return EXIT_FAILED if reproduction.failed else EXIT_OK


def _notes(reproduction: Reproduction, out: str) -> None:
    for cell in reproduction.cells:
        if cell.skipped:
            _note(f"{cell.model} on {cell.dataset}: {cell.skipped}; its rows stay empty")
    # the scans of cells that have chosen are no longer planned, but they are this protocol's
    scans = [t for c in reproduction.cells if c.skipped is None for t in reproduction.scan_trials(c)]
    planned = list({t.key: t for t in [*scans, *reproduction.planned()]}.values())
    done = sum(t.key in reproduction.records for t in planned)
    if done:
        _note(f"resuming: {done} of {len(planned)} trials known so far are finished in {out}/trials (skipped)")
    reused = [f"{c.name}={reproduction.choice(c)}" for c in reproduction.cells if reproduction.choice(c)]
    if reused:
        _note("scan choices reused: " + ", ".join(reused))


def _report(progress: Progress) -> None:
    total = progress.done + progress.running + progress.left
    filled = int(_BAR * progress.done / max(1, total))
    eta = "ETA " + duration(progress.eta) if progress.eta is not None else "ETA unknown"
    finished = progress.finished
    trials = finished.task.args[1]
    if finished.error is not None:
        outcomes = [f"failed: {finished.error}"] * len(trials)
    else:
        outcomes = [_outcome(trial, record) for trial, record in zip(trials, finished.value, strict=True)]
    per_trial = (
        f" ({duration(finished.seconds / len(trials))} a trial, {len(trials)} side by side)" if len(trials) > 1 else ""
    )
    lines = [
        f"[{'#' * filled}{'.' * (_BAR - filled)}] {progress.done} done, {progress.running} running, "
        f"{progress.left} left; {eta} | {len(trials)} finished in {duration(finished.seconds)}{per_trial}"
    ]
    lines += [f"    {_label(trial)}: {outcome}" for trial, outcome in zip(trials, outcomes, strict=True)]
    # one write, its newline included (print writes the end apart): a Ctrl-C cannot cut it
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def _outcome(trial: Trial, record: dict) -> str:
    test = record["test_imputation" if trial.impute else "test"]
    return (
        (f"stopped early ({record['stopped_by'].split(';')[0]}); " if record["stopped_by"] else "")
        + f"test {'imputation' if trial.impute else 'mean'} error {_number(test['mean_error'])} "
        + f"(paper metric {_number(test['mean_error_paper_metric'])})"
    )


def _label(trial: Trial) -> str:
    return f"{trial.model} {trial.dataset} {trial.method} seed {trial.seed} ({trial.epochs} epochs)"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _names(text: str, known: list[str], what: str) -> list[str]:
    """The names in ``text``, spelled as in ``known`` (matched without regard to case)."""
    by_lower = {name.lower(): name for name in known}
    names = []
    for item in _items(text):
        if item.lower() not in by_lower:
            raise DataError(f"unknown {what} {item!r} (known: {', '.join(known)})")
        names.append(by_lower[item.lower()])
    if not names:
        raise DataError(f"give at least one {what}")
    return names


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

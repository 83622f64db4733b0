"""Command line: ``overlook <command> ...``, also ``python -m core <command> ...``.

Each command is a ``Command`` in ``COMMANDS``; adding one means adding an entry.
The flags of the models' own options come from their declarations
(``TabularVAE.OPTIONS``). Bad input ends with exit code 2 and one line
``error: ...`` on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pandas as pd

from core import model_cli, reproduce_cli
from core.cli_types import duration, positive_int, print_error, whole_number
from core.config import TrainConfig
from core.errors import DataError, TrainingError
from core.grid import GridOutcome, run_grid
from core.io import load_table
from core.models import MODELS, model_options
from core.mtl import METHODS, make_method
from core.race import AUTO
from core.run import progress_bar, train_run
from core.threads import use_training_threads

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus an error; the product promises one line."""

    def error(self, message: str) -> NoReturn:
        raise DataError(message)


def _add_infer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a CSV file or a HI-VAE folder (with data_types.csv)")
    parser.add_argument(
        "--types", metavar="FILE", help="a HI-VAE data_types.csv or a schema JSON to use instead of inference"
    )


def _run_infer(args: argparse.Namespace) -> int:
    table = load_table(args.path, types=args.types)
    print(table.schema.to_json())
    return EXIT_OK


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="PATH", help="a CSV file or a HI-VAE folder")
    parser.add_argument("--types", metavar="FILE", help="a HI-VAE data_types.csv or a schema JSON")


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    _add_data_arguments(parser)
    parser.add_argument(
        "--method",
        default=TrainConfig.method,
        help="a method, a cocktail 'weighting+projection' (see the methods command), or auto: a race picks one",
    )
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--out", required=True, metavar="DIR", help="where metrics.json and model.pt go")
    _add_model_arguments(parser)
    parser.add_argument("--beta", type=float, default=TrainConfig.beta, help="KL weight")
    parser.add_argument(
        "--no-rescale", action="store_true", help="keep the method's own gradient norm instead of the plain gradient's"
    )
    parser.add_argument(
        "--gradient-space", choices=["representation", "parameters"], default=TrainConfig.gradient_space
    )
    parser.add_argument(
        "--impute",
        action="store_true",
        help="hide the table's Missing20 cells from the model and score their imputation",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The settings train and compare share: the model, the optimizer, sizes, and every model's own options."""
    described = "; ".join(f"{name}: {cls.DESCRIPTION}" for name, cls in MODELS.items())
    parser.add_argument("--model", default=TrainConfig.model, choices=sorted(MODELS), help=described)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--batch-size", type=positive_int, default=TrainConfig.batch_size)
    parser.add_argument("--latent", type=positive_int, default=None, help="default: half the number of columns")
    parser.add_argument("--hidden", type=positive_int, default=TrainConfig.hidden)
    parser.add_argument("--layers", type=positive_int, default=TrainConfig.layers)
    defaults = TrainConfig()
    for option, readers in model_options().values():
        parser.add_argument(
            f"--{option.name.replace('_', '-')}",
            type=whole_number(option.minimum),
            default=getattr(defaults, option.name),
            help=f"{option.help} ({', '.join(readers)})",
        )


def _config(args: argparse.Namespace, **settings: Any) -> TrainConfig:
    """A TrainConfig from the arguments of ``_add_model_arguments`` and the given settings."""
    options = {option.name: getattr(args, option.name) for option, _ in model_options().values()}
    return TrainConfig(
        model=args.model,
        lr=args.lr,
        batch_size=args.batch_size,
        latent=args.latent,
        hidden=args.hidden,
        layers=args.layers,
        **options,
        **settings,
    )


def _run_train(args: argparse.Namespace) -> int:
    if args.method != AUTO:
        make_method(args.method)  # an unknown method fails before the data is read
    table = load_table(args.data, types=args.types)
    config = _config(
        args,
        method=args.method,
        beta=args.beta,
        seed=args.seed,
        rescale=not args.no_rescale,
        gradient_space=args.gradient_space,
        device=args.device,
    )
    result = train_run(table, config, args.epochs, impute=args.impute, progress=progress_bar())
    result.write(args.out)
    if result.stopped_by is not None:
        raise TrainingError(f"{result.stopped_by} (results up to the last good step are in {args.out})")
    if result.race is not None:
        margin = "" if result.race.margin is None else f" by {result.race.margin:.4f} over {result.race.runner_up}"
        print(f"auto: {result.race.winner} won the race on validation error{margin}")
    print(
        f"test mean error {result.test.mean_error:.4f}; overlooked: "
        f"{', '.join(result.test.overlooked) or 'none'}; written to {args.out}"
    )
    for line in result.verdicts.summary_lines() if result.verdicts is not None else ():
        print(line)
    return EXIT_OK


def _add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    _add_data_arguments(parser)
    parser.add_argument(
        "--methods",
        required=True,
        type=_method_list,
        metavar="LIST",
        help="comma-separated methods or cocktails, e.g. none,imtl-g,pcgrad,imtl-g+pcgrad",
    )
    parser.add_argument("--seeds", type=positive_int, default=5, help="seeds 0..N-1 for every method (default 5)")
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="where runs.csv, summary.csv, figure.png/.html and runs/ go"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="runs at once on a local Ray, one torch thread each (default: the number of CPUs)",
    )
    _add_model_arguments(parser)
    parser.add_argument("--save-models", action="store_true", help="also write each run's model.pt")


def _run_compare(args: argparse.Namespace) -> int:
    for method in args.methods:  # every method is checked before the data is read
        make_method(method)
    table = load_table(args.data, types=args.types)
    base = _config(args, device="cpu").validate()
    try:
        outcomes = run_grid(
            table,
            args.methods,
            args.seeds,
            base,
            args.epochs,
            args.out,
            workers=args.workers,
            save_models=args.save_models,
            progress=_grid_progress,
        )
    except KeyboardInterrupt:  # the runs are cancelled and Ray stopped; finished runs are on disk
        print_error(f"interrupted; the runs that finished have their metrics.json in {args.out}/runs")
        return EXIT_INTERRUPTED
    reasons = [(o, o.stopped_by) for o in outcomes if o.stopped_by is not None]
    for outcome, reason in reasons:
        print(f"warning: {outcome.method} seed {outcome.seed} stopped early: {reason}", file=sys.stderr)
    print(f"{len(outcomes) - len(reasons)} of {len(outcomes)} runs finished; written to {args.out}")
    failed = any(reason.startswith("internal error") for _, reason in reasons)
    return EXIT_INTERNAL if failed else EXIT_OK


def _grid_progress(done: int, total: int, outcome: GridOutcome, elapsed: float) -> None:
    mean, reason = outcome.metrics.get("mean_error"), outcome.stopped_by
    if reason is not None:
        result = f"stopped early ({reason.split(';')[0]})"
    else:
        result = f"mean error {mean:.4f}" if mean is not None else "mean error not finite"
    eta = elapsed / done * (total - done)
    print(
        f"[{done}/{total}] {outcome.method} seed {outcome.seed}: {result} in {outcome.seconds:.0f} s; "
        f"elapsed {duration(elapsed)}, ETA {duration(eta) if done < total else 'done'}",
        file=sys.stderr,
        flush=True,
    )


def _method_list(text: str) -> list[str]:
    methods = [m.strip().lower() for m in text.split(",") if m.strip()]
    if not methods:
        raise argparse.ArgumentTypeError("give at least one method")
    return methods


def _run_methods(args: argparse.Namespace) -> int:
    width = max(len(name) for name in METHODS)
    for name, cls in METHODS.items():
        print(f"{name:<{width}}  {cls.description}")
    print("Cocktails: a weighting method then a projection method, e.g. imtl-g+pcgrad.")
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "infer": Command("print the schema (column types and why) as JSON", _add_infer_arguments, _run_infer),
    "train": Command(
        "train a model on a table; write metrics.json, model.pt and a model bundle", _add_train_arguments, _run_train
    ),
    "compare": Command(
        "train several methods over several seeds in parallel and summarise them", _add_compare_arguments, _run_compare
    ),
    "methods": Command("list the multi-task methods", lambda parser: None, _run_methods),
    "sample": Command(
        "draw synthetic rows from a trained model (a train --out folder)",
        model_cli.add_sample_arguments,
        model_cli.run_sample,
    ),
    "impute": Command(
        "fill the missing cells of a CSV with a trained model", model_cli.add_impute_arguments, model_cli.run_impute
    ),
    "reproduce": Command(
        "run the paper's Table 1 protocol (scan, then seeds) on Ray; resumable",
        reproduce_cli.add_arguments,
        reproduce_cli.run,
    ),
}


def build_parser(prog: str = "overlook") -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=prog, description="Find and fix overlooked columns in a mixed-type VAE.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser)
    for name, command in COMMANDS.items():
        command.add_arguments(commands.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: list[str] | None = None, prog: str = "overlook") -> int:
    """Run one command; the exit code. ``prog`` is the name --help shows (``python -m core`` from ``__main__``)."""
    try:
        args = build_parser(prog).parse_args(argv)
        use_training_threads()  # the same numbers as the app's and the grid's for the same seed
        return COMMANDS[args.command].run(args)
    except SystemExit as done:  # --help
        return int(done.code or 0)
    except (DataError, TrainingError, pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        print_error(str(error))
        return EXIT_BAD_INPUT
    except Exception as error:  # a bug: still one line, with its kind to report it
        print_error(f"internal error ({type(error).__name__}): {error}")
        return EXIT_INTERNAL

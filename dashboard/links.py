"""The page's address: what the views read from it and write into it.

A link is a query string. ``view`` names the view (``?view=compare``); the compare view
adds its set-up (``cfg``, ``data``, ``seed``, ``epochs``), the learn view its lesson
(``lesson_step``, ``lesson_columns``, ``lesson_method``, ``lesson_seed``, ``presenter``).
Each ``*_query`` function writes a view's whole address; each ``read_*`` function
reads one back forgivingly: a value that cannot be used adds a one-line problem naming
it, and its default stays. Which values are allowed is core's to say (core.lesson's
values and ``plane_columns``, core.configurations for ``cfg``); this module knows only
their spelling in an address. Nothing here touches streamlit: the views pass
``st.query_params`` in and write what comes out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from core.configurations import encode_configurations, parse_configurations
from core.errors import DataError
from core.lesson import LESSON_METHODS, STAGES, LessonSetup, plane_columns
from core.lesson import MAX_SEED as LESSON_MAX_SEED
from core.trainer import TrainConfig

VIEW = "view"
COMPARE_VIEW = "compare"
LEARN_VIEW = "learn"
MAX_EPOCHS = 2000  # the most epochs a comparison may ask for, in its set-up or its link
MAX_SEED = 2**31 - 1  # the largest seed the train and compare views take
_WHOLE_NUMBER = re.compile(r"[0-9]+")  # str.isdigit() also takes "²", which int() refuses
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def linked_view(params: Mapping[str, str], views: Sequence[str], default: str) -> str:
    """The view a link names, in any case (``?view=compare`` opens "Compare"), else ``default``."""
    return {name.lower(): name for name in views}.get(params.get(VIEW, "").strip().lower(), default)


def query_text(params: Mapping[str, str]) -> str:
    """``?a=1&b=2``, as a link to copy: commas and colons left readable."""
    return "?" + urlencode(dict(params), safe=":,")


# --- values ------------------------------------------------------------------------------


def whole_number(name: str, text: str, low: int, high: int) -> int:
    """``text`` as a whole number from ``low`` to ``high``; else a DataError naming it."""
    if not _WHOLE_NUMBER.fullmatch(text.strip()) or not low <= int(text) <= high:
        raise DataError(f"{name} {text!r} is not a whole number from {low} to {high}")
    return int(text)


def one_of(name: str, text: str, options: Sequence[str]) -> str:
    """``text`` if it is one of ``options``; else a DataError naming it and them."""
    if text not in options:
        raise DataError(f"{name} {text!r} is not one of {', '.join(options)}")
    return text


def _read_fields(
    params: Mapping[str, str], readers: Mapping[str, tuple[str, Callable[[str], Any]]], problems: list[str]
) -> dict[str, Any]:
    """``{field: value}`` for each parameter present that reads; each one that does not adds its problem."""
    values: dict[str, Any] = {}
    for key, (field, read) in readers.items():
        if key in params:
            try:
                values[field] = read(str(params[key]))
            except DataError as problem:
                problems.append(str(problem))
    return values


# --- the compare view ----------------------------------------------------------------------


@dataclass(frozen=True)
class CompareLink:
    """What a compare link asks for; None where it says nothing usable."""

    data: str | None = None
    seed: int | None = None
    epochs: int | None = None
    configs: tuple[TrainConfig, ...] | None = None


def compare_query(table_name: str, configs: Sequence[TrainConfig], seed: int, epochs: int) -> dict[str, str]:
    return {
        VIEW: COMPARE_VIEW,
        "cfg": encode_configurations(configs),
        "data": table_name,
        "seed": str(seed),
        "epochs": str(epochs),
    }


def read_compare_link(params: Mapping[str, str], base: TrainConfig) -> tuple[CompareLink, list[str]]:
    """The set-up a compare link asks for; ``base`` gives what ``cfg`` leaves out (sizes, beta...)."""
    problems: list[str] = []
    readers: dict[str, tuple[str, Callable[[str], Any]]] = {
        "data": ("data", str),
        "seed": ("seed", lambda text: whole_number("seed", text, 0, MAX_SEED)),
        "epochs": ("epochs", lambda text: whole_number("epochs", text, 1, MAX_EPOCHS)),
        "cfg": ("configs", lambda text: tuple(_configurations(text, base))),
    }
    return CompareLink(**_read_fields(params, readers, problems)), problems


def _configurations(text: str, base: TrainConfig) -> list[TrainConfig]:
    try:
        return parse_configurations(text, base)
    except DataError as error:
        raise DataError(f"cfg: {error}") from None


# --- the learn view ------------------------------------------------------------------------


def lesson_query(setup: LessonSetup) -> dict[str, str]:
    return {
        VIEW: LEARN_VIEW,
        "lesson_step": str(setup.stage),
        "lesson_columns": ",".join(setup.columns),
        "lesson_method": setup.method,
        "lesson_seed": str(setup.seed),
        "presenter": "1" if setup.presenter else "0",
    }


def read_lesson_link(params: Mapping[str, str]) -> tuple[LessonSetup, list[str]]:
    """The lesson a link asks for; each parameter that cannot be used keeps its default."""
    problems: list[str] = []
    readers: dict[str, tuple[str, Callable[[str], Any]]] = {
        "lesson_step": ("stage", lambda text: int(one_of("step", text.strip(), [str(s) for s in STAGES]))),
        "lesson_columns": ("columns", _plane_columns),
        "lesson_method": ("method", lambda text: one_of("method", text, LESSON_METHODS)),
        "lesson_seed": ("seed", lambda text: whole_number("seed", text, 0, LESSON_MAX_SEED)),
        "presenter": ("presenter", _presenter),
    }
    return replace(LessonSetup(), **_read_fields(params, readers, problems)), problems


def _plane_columns(text: str) -> tuple[str, str]:
    names = [name.strip() for name in text.split(",")]
    if len(names) != 2:
        raise DataError(f"columns {text!r} must name two columns, separated by a comma")
    return plane_columns(names[0], names[1])


def _presenter(text: str) -> bool:
    flag = text.strip().lower()
    if flag not in _FLAGS:
        raise DataError(f"presenter {text!r} is not 1 or 0")
    return _FLAGS[flag]

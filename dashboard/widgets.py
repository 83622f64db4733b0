"""What the views share: the one rule that ties a widget to state, and the widgets and
spellings more than one view draws.

The rule. A state object (dashboard.state) is the one truth for every value a widget
edits. ``bind(key, value, write)`` puts the state's value into the widget's key before
the widget is drawn, on every run, and gives the widget an on_change that hands its new
value to ``write`` (a state method, or ``setter(obj, name)``). So a widget that was not
drawn for a while (another view, another stage) comes back showing the state, and a
change the state refuses is undone on the next run. A widget whose value cannot be set
(an upload, a data editor's edits) gets only the second half, ``written_back``. Widgets
that only choose what the page draws (the view, a panel, a chart's option) keep their
own value, with a ``default``.

Method specs. The weighting and projection boxes spell a method as core's registry reads
it, in one canonical form: the parts that are "none" left out, so "imtl-g" + "none" is
``imtl-g``, "none" + "pcgrad" is ``pcgrad``, and nothing at all is ``none``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.models import MODEL_DESCRIPTIONS, MODELS
from core.mtl import METHODS, PROJECTION, WEIGHTING

PLOTLY_CONFIG = {"displaylogo": False}
LabelVisibility = Literal["visible", "hidden", "collapsed"]
NO_PART = "none"  # the plain sum as a weighting, and no projection
WEIGHTINGS = [name for name, cls in METHODS.items() if cls.kind == WEIGHTING]
PROJECTIONS = [NO_PART] + [name for name, cls in METHODS.items() if cls.kind == PROJECTION]


# --- the rule ---------------------------------------------------------------------------


def bind(key: str, value: object, write: Callable[[Any], object]) -> dict[str, Any]:
    """The widget arguments that show ``value`` and send a change to ``write``:
    ``st.selectbox("Model", options, **bind("cfg_model", draft.model, ...))``."""
    st.session_state[key] = value
    return written_back(key, write)


def written_back(key: str, write: Callable[[Any], object]) -> dict[str, Any]:
    """The widget arguments that send the widget's new value to ``write``, for widgets
    whose value cannot be set (uploads, a data editor's edits)."""
    return {"key": key, "on_change": _write_back, "args": (key, write)}


def _write_back(key: str, write: Callable[[Any], object]) -> None:
    write(st.session_state[key])


def setter(obj: object, name: str) -> Callable[[Any], None]:
    """A ``write`` for ``bind`` that sets attribute ``name`` of ``obj``."""
    return partial(setattr, obj, name)


# --- methods ------------------------------------------------------------------------------


def method_parts(spec: str) -> tuple[str, str]:
    """(weighting, projection) of a method spec; a projection alone comes after no weighting."""
    parts = [part.strip().lower() for part in spec.split("+")]
    if len(parts) == 2:
        return parts[0], parts[1]
    return (NO_PART, parts[0]) if parts[0] in PROJECTIONS else (parts[0], NO_PART)


def method_spec(weighting: str, projection: str) -> str:
    """The canonical spec of a weighting and a projection (see the module's docstring)."""
    return "+".join(part for part in (weighting, projection) if part != NO_PART) or NO_PART


def canonical_method(spec: str) -> str:
    """``spec`` in the canonical form: ``none+pcgrad`` is ``pcgrad``."""
    return method_spec(*method_parts(spec))


def method_pickers(
    cells: Sequence[DeltaGenerator],
    keys: tuple[str, str],
    spec: str,
    write: Callable[[str], object],
    *,
    label_visibility: LabelVisibility = "visible",
    explained: bool = False,
) -> None:
    """A weighting box and a projection box in ``cells``, showing ``spec``; a change of
    either sends the canonical spec of both to ``write``."""
    weighting, projection = method_parts(spec)
    labels = (("Weighting", WEIGHTINGS, weighting), ("Projection", PROJECTIONS, projection))
    for cell, key, (label, options, value) in zip(cells, keys, labels, strict=True):
        cell.selectbox(
            label,
            options,
            **bind(key, value, lambda _: write(method_spec(*(st.session_state[k] for k in keys)))),
            label_visibility=label_visibility,
            help=_descriptions(options) if explained else None,
        )


def _descriptions(names: Sequence[str]) -> str:
    return "\n".join(f"- **{name}**: {METHODS[name].description}" for name in names)


# --- inputs ---------------------------------------------------------------------------------


def training_inputs(
    cells: Sequence[DeltaGenerator],
    keys: Sequence[str],
    settings: Any,
    write: Callable[[str, Any], object],
    **options: Any,
) -> None:
    """The model, learning rate and batch size boxes in three cells, showing the ``model``,
    ``lr`` and ``batch_size`` of ``settings`` (a TrainConfig, a comparison's choice); a
    change of one sends its setting's name and new value to ``write``."""
    model_cell, lr_cell, batch_cell = cells
    model_key, lr_key, batch_key = keys
    model = bind(model_key, settings.model, lambda model: write("model", model))
    model_cell.selectbox("Model", list(MODELS), **model, format_func=model_label, **options)
    lr = bind(lr_key, float(settings.lr), lambda lr: write("lr", float(lr)))
    lr_cell.number_input("Learning rate", **lr, min_value=1e-6, max_value=1e3, step=1e-4, format="%g", **options)
    batch = bind(batch_key, int(settings.batch_size), lambda batch: write("batch_size", int(batch)))
    batch_cell.number_input("Batch size", **batch, min_value=2, max_value=100_000, step=32, **options)


def model_label(model: str) -> str:
    return f"{model} – {MODEL_DESCRIPTIONS[model]}"


def whole_number_input(
    cell: DeltaGenerator,
    label: str,
    key: str,
    value: int,
    write: Callable[[int], object],
    bounds: tuple[int, int],
    **options: Any,
) -> None:
    """A box for a whole number from ``bounds[0]`` to ``bounds[1]``, bound to ``value``."""
    low, high = bounds
    cell.number_input(
        label,
        **bind(key, int(value), lambda number: write(int(number))),
        min_value=low,
        max_value=high,
        step=1,
        **options,
    )


# --- downloads ------------------------------------------------------------------------------


def download_buttons(cells: Sequence[DeltaGenerator], files: Sequence[tuple[str, str, str, str, Any]]) -> None:
    """One download button per ``(label, key, file name, MIME type, data)`` in ``cells``;
    ``data`` is the file's text or bytes, or a function making them when clicked."""
    for cell, (label, key, file_name, mime, data) in zip(cells, files, strict=True):
        # on_click="ignore": a download needs no rerun, and a rerun would re-register
        # the other buttons' files while the user may be clicking them
        cell.download_button(label, key=key, file_name=file_name, mime=mime, data=data, on_click="ignore")

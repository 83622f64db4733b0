"""Method names -> classes, and building a method (or a cocktail) from a spec string.

A spec is a method name ("imtl-g") or a cocktail "weighting+projection" ("imtl-g+pcgrad").
Options go to whichever part takes them; randomness comes from the generator given, so
two runs with equally seeded generators are bit-identical.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from core.errors import DataError
from core.mtl.aligned_mtl import AlignedMTL
from core.mtl.base import PROJECTION, WEIGHTING, Method
from core.mtl.cagrad import CAGrad
from core.mtl.cocktail import Cocktail
from core.mtl.dwa import DynamicWeightAverage
from core.mtl.graddrop import GradDrop
from core.mtl.gradnorm import GradNorm
from core.mtl.gradvac import GradVac
from core.mtl.imtl_g import IMTLG
from core.mtl.mgda import MGDAUB
from core.mtl.nash_mtl import NashMTL
from core.mtl.nsgd import NormalisedGradients
from core.mtl.pcgrad import PCGrad
from core.mtl.plain_sum import PlainSum
from core.mtl.rlw import RandomLossWeighting
from core.mtl.uncertainty import UncertaintyWeighting
from core.mtl.upgrad import UPGrad

METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        PlainSum,
        GradNorm,
        MGDAUB,
        IMTLG,
        PCGrad,
        GradDrop,
        CAGrad,
        GradVac,
        NashMTL,
        AlignedMTL,
        UPGrad,
        NormalisedGradients,
        UncertaintyWeighting,
        DynamicWeightAverage,
        RandomLossWeighting,
    )
}


def method_options(cls: type[Method]) -> list[str]:
    """The options a method takes (its constructor's keyword parameters, bar the generator)."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in named and p.name not in ("self", "generator")]


def make_method(spec: str, *, generator: torch.Generator | None = None, **options: Any) -> Method:
    """A fresh method for ``spec``. Without a generator, a new one with torch's fixed default seed."""
    names = [part.strip().lower() for part in str(spec).split("+")]
    classes = [_method_class(name) for name in names]
    if len(classes) > 2:
        raise DataError(f"a cocktail has two parts, weighting+projection; got {spec!r}")
    if len(classes) == 2:
        first, second = classes
        if first.kind != WEIGHTING:
            raise DataError(f"{first.name!r} is a projection method and cannot come first in {spec!r}")
        if second.kind != PROJECTION and second is not PlainSum:
            raise DataError(
                f"{second.name!r} is a weighting method and cannot come second in {spec!r} "
                f"(use a projection method: {', '.join(_projection_names())})"
            )
    accepted = {option for cls in classes for option in method_options(cls)}
    unknown = sorted(set(options) - accepted)
    if unknown:
        valid = ", ".join(sorted(accepted)) or "none"
        raise DataError(f"unknown option {unknown[0]!r} for method {spec!r} (valid options: {valid})")
    generator = generator if generator is not None else torch.Generator()
    parts = [_build(cls, generator, options) for cls in classes]
    return parts[0] if len(parts) == 1 else Cocktail(*parts)


def _method_class(name: str) -> type[Method]:
    try:
        return METHODS[name]
    except KeyError:
        raise DataError(
            f"unknown method {name!r} (expected one of: {', '.join(METHODS)}, "
            f"or a cocktail weighting+projection such as imtl-g+pcgrad)"
        ) from None


def _projection_names() -> list[str]:
    return [name for name, cls in METHODS.items() if cls.kind == PROJECTION or cls is PlainSum]


def _build(cls: type[Method], generator: torch.Generator, options: dict) -> Method:
    kwargs = {name: options[name] for name in method_options(cls) if name in options}
    if "generator" in inspect.signature(cls.__init__).parameters:
        kwargs["generator"] = generator
    return cls(**kwargs)

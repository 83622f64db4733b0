"""The compare view's session state: its set-up (how many configurations, each one's
model, method, learning rate and batch size, and the seed and epochs they share), the
comparison started from it, and the one-line messages about both.

The set-up keeps MAX_CONFIGURATIONS configuration choices; the first ``count`` are
compared, so lowering the count and raising it again brings the same choices back.
A session's set-up starts from its link, if the page was opened on one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import streamlit as st

from core.configurations import MAX_CONFIGURATIONS
from core.errors import DataError
from core.trainer import TrainConfig
from core.workers.pool import PoolFull
from core.workers.remote_comparison import RemoteComparison
from dashboard.links import CompareLink, read_compare_link
from dashboard.state.samples import sample_names
from dashboard.state.session import COMPARE_KEY, session_object
from dashboard.state.train import DashboardState, get_state
from dashboard.widgets import canonical_method

DEFAULT_METHODS = ("none", "imtl-g", "pcgrad", "mgda-ub", "imtl-g+pcgrad", "gradnorm")
DEFAULT_COUNT = 3
DEFAULT_EPOCHS = 5


@dataclass
class ConfigurationChoice:
    """One row of the set-up; ``method`` is a canonical spec (dashboard.widgets)."""

    model: str
    method: str
    lr: float
    batch_size: int


@dataclass
class CompareState:
    seed: int
    choices: list[ConfigurationChoice]
    count: int = DEFAULT_COUNT
    epochs: int = DEFAULT_EPOCHS
    comparison: RemoteComparison | None = None  # trained in a worker process of the server's pool
    messages: dict[str, str] = field(default_factory=dict)  # under "link" and "start"

    @classmethod
    def fresh(cls, base: TrainConfig) -> CompareState:
        """The default set-up: the train view's model and optimiser, DEFAULT_METHODS."""
        choices = [
            ConfigurationChoice(base.model, method, float(base.lr), int(base.batch_size)) for method in DEFAULT_METHODS
        ]
        return cls(seed=int(base.seed), choices=choices[:MAX_CONFIGURATIONS])

    def configs(self, base: TrainConfig) -> list[TrainConfig]:
        """The configurations to compare: ``base`` (sizes, beta, device...) with each choice."""
        return [
            replace(
                base,
                model=choice.model,
                method=choice.method,
                lr=float(choice.lr),
                batch_size=int(choice.batch_size),
                seed=int(self.seed),
                method_options=dict(base.method_options),
            )
            for choice in self.choices[: self.count]
        ]

    def follow_link(self, link: CompareLink, problems: list[str], session: DashboardState) -> None:
        """Take the set-up a link asks for; its table is loaded into the session. What
        cannot be used keeps its default and is named in messages["link"]."""
        problems = list(problems)
        if link.data is not None and link.data != session.table.name:
            if link.data not in sample_names():
                problems.insert(0, f"data {link.data!r} is not a bundled sample; comparing on {session.table.name!r}")
            elif not session.load_sample(link.data):
                problems.insert(0, f"data {link.data!r} could not be opened ({session.messages.get('data')})")
        if link.seed is not None:
            self.seed = link.seed
        if link.epochs is not None:
            self.epochs = link.epochs
        if link.configs is not None:
            self.count = len(link.configs)
            for i, config in enumerate(link.configs):
                self.choices[i] = ConfigurationChoice(
                    config.model, canonical_method(config.method), float(config.lr), int(config.batch_size)
                )
        if problems:
            self.messages["link"] = (
                "The link could not be used as it is: " + "; ".join(problems) + ". Defaults are used."
            )

    def start(self, session: DashboardState) -> bool:
        """A new comparison from step 0 on the session's table and model schema, replacing
        any running one; when it cannot be built (a DataError, a full pool) the old one stays
        and messages["start"] says why."""
        self.messages.pop("link", None)
        try:
            comparison = RemoteComparison(
                session.table.name,
                session.table.data,
                session.trainer.schema,
                self.configs(base_config(session)),
                epochs=int(self.epochs),
            )
        except (DataError, PoolFull) as error:
            self.messages["start"] = str(error)
            return False
        self.messages.pop("start", None)
        old, self.comparison = self.comparison, comparison
        if old is not None:
            old.close()  # its place in the pool goes to the new one
        return True


def base_config(session: DashboardState) -> TrainConfig:
    """What the configurations share with the train view's model (sizes, beta, device...)."""
    return replace(session.config, method_options=dict(session.config.method_options))


def get_compare() -> CompareState:
    """This session's compare state, made on its first visit from the page's link (which
    may load the link's table into the session)."""
    return session_object(COMPARE_KEY, _from_link)


def _from_link() -> CompareState:
    session = get_state()
    compare = CompareState.fresh(base_config(session))
    link, problems = read_compare_link(st.query_params.to_dict(), base_config(session))
    compare.follow_link(link, problems, session)
    return compare

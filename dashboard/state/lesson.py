"""The learn view's session state: the lesson's setup (what its link carries), its runs,
the learner's guess, and whether the current stage's run is playing.

The setup is mirrored into the page's address (``mirror``) whenever it changes, so that
the address is always a link to this very lesson.

Each stage shows some runs (stage 2 plain training, stage 3 the fix, stage 4 both):
moving to a stage replays the earlier stages' runs to their end at once (the same seed
gives the same run) and starts the stage's own run, which then plays live.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import streamlit as st

from core.errors import TrainingError
from core.lesson import LESSON_STEPS, PLAIN, LessonRun, LessonSetup
from dashboard.charts.lesson import run_name
from dashboard.links import lesson_query, read_lesson_link
from dashboard.state.session import LESSON_KEY, session_object


@dataclass
class LessonState:
    setup: LessonSetup
    run: LessonRun
    guess: str | None = None
    playing: bool = False
    link_problems: list[str] = field(default_factory=list)
    message: str | None = None  # why training stopped, if it stopped itself
    geometry_method: str | None = None  # stage 4's way of combining shown in the plane; None: the fix

    @property
    def shown_method(self) -> str:
        """The method stage 4 draws in the plane."""
        return self.geometry_method or self.setup.method

    def complete(self, method: str) -> bool:
        curve = self.run.curves.get(method, [])
        return bool(curve) and curve[-1].step >= LESSON_STEPS

    def prepare_stage(self) -> None:
        """Make the runs the current stage shows: earlier stages' runs replayed to the end,
        the stage's own run started (it plays live)."""
        stage, fix = self.setup.stage, self.setup.method
        earlier = {2: [], 3: [PLAIN], 4: [PLAIN, fix]}.get(stage, [])
        live = {2: PLAIN, 3: fix}.get(stage)
        self.playing = False
        try:
            for method in earlier:
                if not self.complete(method):
                    with st.spinner(f"Replaying {LESSON_STEPS} steps of {run_name(method)}…"):
                        self.run.run_to_end(method)
            if live is not None and not self.complete(live):
                self.run.start(live)
                self.playing = True
        except TrainingError as error:
            self.message = str(error)

    def mirror(self) -> None:
        """Write the setup into the page's address."""
        st.query_params.update(lesson_query(self.setup))

    def go_to(self, stage: int) -> None:
        self.setup = replace(self.setup, stage=stage)
        self.message = None
        self.prepare_stage()
        self.mirror()

    def start_over(self) -> None:
        self.guess = None
        self.run = LessonRun(self.setup.seed)
        self.go_to(1)

    def change(self, **changes: Any) -> None:
        """New setup values. A new seed means new runs; a new fix, a new fix run."""
        self.setup = replace(self.setup, **changes)
        if "seed" in changes:
            self.run = LessonRun(self.setup.seed)
        if "seed" in changes or "method" in changes:
            self.prepare_stage()
        self.mirror()

    def train_for(self, seconds: float) -> None:
        """Steps of the playing run for about ``seconds``; it stops playing at its end or
        when a step is rejected (``message`` says why)."""
        started = time.perf_counter()
        try:
            while not self.run.finished and time.perf_counter() - started < seconds:
                self.run.advance(1)
        except TrainingError as error:
            self.message = str(error)
            self.playing = False
        if self.run.finished:
            self.playing = False


def get_lesson() -> LessonState:
    """This session's lesson, set up from the page's link on its first visit."""
    return session_object(LESSON_KEY, _from_link)


def _from_link() -> LessonState:
    setup, problems = read_lesson_link(st.query_params.to_dict())
    lesson = LessonState(setup, LessonRun(setup.seed), link_problems=problems)
    lesson.prepare_stage()
    return lesson

"""The session keys of the state objects, and the one way to reach an object under its key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

TRAIN_KEY = "dashboard"
COMPARE_KEY = "compare"
LESSON_KEY = "lesson"

StateObject = TypeVar("StateObject")


def session_object(key: str, create: Callable[[], StateObject]) -> StateObject:
    """This session's object under ``key``, made by ``create`` on its first use."""
    if key not in st.session_state:
        st.session_state[key] = create()
    return st.session_state[key]

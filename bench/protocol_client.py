"""A browser session spoken in Streamlit's own websocket protocol, for benches.

What ``bench_sessions`` needs of a student's browser -- open the page, press a button, keep
the page's ``run_every`` fragment re-running as the frontend does, read a metric as it
changes -- without rendering anything: a real Chromium takes most of a core for a few
sessions, which on a small machine is taken from the very server being measured.

The client speaks the protocol the frontend speaks (``streamlit.proto``): a ``BackMsg``
``rerun_script`` to run the page (with a button's trigger to press it, or a fragment id
to re-run one fragment), ``ForwardMsg`` deltas back. Widgets it does not report keep the
values of the previous run on the server, as they do between a browser's reruns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.typing import Subprotocol


@dataclass
class PageState:
    """What the session has seen: widget ids by their key, metrics, when the watched metric changed."""

    widget_ids: dict[str, str] = field(default_factory=dict)
    # when each keyed element arrived with content other than it had (a chart to redraw)
    element_changes: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    changes: list[tuple[float, str]] = field(default_factory=list)  # (monotonic seconds, value)
    exceptions: list[str] = field(default_factory=list)
    script_runs: int = 0


class ProtocolSession:
    """One session of the app at ``url`` (``http://HOST:PORT``); ``watch`` names the metric
    whose changes are timed (``PageState.changes``)."""

    def __init__(self, url: str, watch: str = "Step"):
        self.stream_url = url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.watch = watch
        self.page = PageState()
        self._socket: websockets.ClientConnection | None = None
        self._receiver: asyncio.Task | None = None
        self._auto_rerun: asyncio.Task | None = None
        self._finished = asyncio.Event()
        self._running = False
        self._contents: dict[str, bytes] = {}

    async def open(self, timeout: float = 180) -> None:
        """Connect and run the page once, as a browser opening it does."""
        self._socket = await websockets.connect(self.stream_url, subprotocols=[Subprotocol("streamlit")], max_size=None)
        self._receiver = asyncio.create_task(self._receive())
        await self._rerun(timeout=timeout)

    async def click(self, key: str, timeout: float = 180) -> None:
        """Press the button with widget key ``key`` and wait for the run it starts."""
        widget_id = self.page.widget_ids.get(key)
        if widget_id is None:
            known = ", ".join(sorted(self.page.widget_ids))
            raise LookupError(f"no widget with key {key!r} on the page (keys: {known})")
        await self._rerun(trigger=widget_id, timeout=timeout)

    async def close(self) -> None:
        for task in (self._auto_rerun, self._receiver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await task
        if self._socket is not None:
            await self._socket.close()

    # --- the protocol ---------------------------------------------------------------
    async def _send_rerun(self, trigger: str | None = None, fragment_id: str | None = None) -> None:
        message = BackMsg()
        state = message.rerun_script
        state.query_string = ""
        state.page_script_hash = ""
        if trigger is not None:
            widget = state.widget_states.widgets.add()
            widget.id, widget.trigger_value = trigger, True
        if fragment_id is not None:
            state.fragment_id, state.is_auto_rerun = fragment_id, True
        self._finished.clear()
        self._running = True
        assert self._socket is not None, "open() first"
        await self._socket.send(message.SerializeToString())

    async def _rerun(self, trigger: str | None = None, timeout: float = 180) -> None:
        await self._send_rerun(trigger)
        await asyncio.wait_for(self._finished.wait(), timeout)

    async def _receive(self) -> None:
        assert self._socket is not None
        async for data in self._socket:
            message = ForwardMsg()
            message.ParseFromString(data)
            kind = message.WhichOneof("type")
            if kind == "delta":
                self._read_delta(message)
            elif kind == "auto_rerun":
                self._start_auto_rerun(message.auto_rerun.interval, message.auto_rerun.fragment_id)
            elif kind == "stop_auto_rerun" and self._auto_rerun is not None:
                self._auto_rerun.cancel()
                self._auto_rerun = None
            elif kind == "script_finished":
                self._running = False
                self.page.script_runs += 1
                self._finished.set()

    def _read_delta(self, message: ForwardMsg) -> None:
        delta = message.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind is None:
            return
        proto = getattr(element, kind)
        widget_id = getattr(proto, "id", "")
        if isinstance(widget_id, str) and widget_id.startswith("$$ID-"):
            # the id of an element given key= ends with that key: $$ID-<hash>-<key>
            key = widget_id.split("-", 2)[2]
            self.page.widget_ids[key] = widget_id
            content = proto.SerializeToString()
            if self._contents.get(key) != content:
                self._contents[key] = content
                self.page.element_changes.setdefault(key, []).append(time.monotonic())
        if kind == "metric":
            self.page.metrics[proto.label] = proto.body
            if proto.label == self.watch and (not self.page.changes or self.page.changes[-1][1] != proto.body):
                self.page.changes.append((time.monotonic(), proto.body))
        elif kind == "exception":
            self.page.exceptions.append(proto.message)

    def _start_auto_rerun(self, interval: float, fragment_id: str) -> None:
        """Re-run the fragment every ``interval`` seconds, as the frontend's timer does; a
        tick that comes while a run is still going waits for its end (no run is cut short)."""
        if self._auto_rerun is not None:
            self._auto_rerun.cancel()

        async def tick() -> None:
            while True:
                await asyncio.sleep(interval)
                await self._finished.wait()
                await self._send_rerun(fragment_id=fragment_id)

        self._auto_rerun = asyncio.create_task(tick())

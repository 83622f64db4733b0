"""The protocol client ``bench_sessions`` measures with: against the real server it sees what a
browser sees -- two sessions of their own, Play starting the live fragment's timer, the step
counter climbing, Pause stopping it -- so its steps per second are the page's."""

from __future__ import annotations

import asyncio

from bench.protocol_client import ProtocolSession


def _step(session: ProtocolSession) -> int:
    return int(session.page.metrics["Step"].replace(",", ""))


async def _two_sessions(url: str) -> None:
    first, second = ProtocolSession(url), ProtocolSession(url)
    try:
        for session in (first, second):
            await session.open()
            assert _step(session) == 0 and "play" in session.page.widget_ids
        await first.click("play")
        assert "pause" in first.page.widget_ids  # the page now offers Pause
        await asyncio.sleep(5)
        assert len(first.page.changes) >= 3, first.page.changes  # refreshed by its fragment's timer
        steps = [int(value.replace(",", "")) for _, value in first.page.changes]
        assert steps == sorted(steps) and steps[-1] > steps[0]
        assert _step(second) == 0  # the other session did not train

        await first.click("pause")
        paused_at = _step(first)
        await asyncio.sleep(2.5)
        assert _step(first) == paused_at and "play" in first.page.widget_ids
        assert not first.page.exceptions and not second.page.exceptions
    finally:
        for session in (first, second):
            await session.close()


def test_protocol_clients_play_pause_and_read_their_own_sessions(server):
    asyncio.run(_two_sessions(server))


def test_clicking_a_key_the_page_does_not_have_is_named(server):
    async def click_missing() -> str:
        session = ProtocolSession(server)
        try:
            await session.open()
            try:
                await session.click("no_such_button")
            except LookupError as error:
                return str(error)
            return "no error"
        finally:
            await session.close()

    message = asyncio.run(click_missing())
    assert "no widget with key 'no_such_button'" in message and "play" in message

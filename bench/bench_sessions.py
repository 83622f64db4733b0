"""Many sessions on one server: aggregate training speed, refresh interval and memory for
N = 1, 2, 4, 8 sessions playing at once.

The bench starts `streamlit run dashboard/app.py` on 127.0.0.1 (headless) and opens sessions
until N play at once: the sessions of the previous N keep playing and the missing ones are
opened, each pressing Play on the default table (Adult, batch 128). After --warm-up seconds
every session is watched for --seconds: each refresh of its step counter is timed. A
session's speed is the steps between its first and last refresh in that window over the
time between them; the aggregate is their sum.

Two kinds of client (--client): ``protocol`` (default) speaks Streamlit's websocket
protocol as the frontend does (``bench/protocol_client.py``: the page's runs, its button,
its run_every fragment's timer; nothing rendered), so the clients take a few percent of a
core and the server's cores go to the server, as with students on their own machines;
``browser`` opens real headless Chromium pages (Playwright, /usr/bin/chromium --no-sandbox;
a browser context each), their threads reniced to --browser-nice (default 10), which on a
2-core machine still take most of a core from the server. Memory is the server's process tree -- the
streamlit process, the forkserver and the training workers -- as RSS and as PSS (shared
pages split between the processes sharing them, so PSS adds up); the CPU each group used
(server interpreter, forkserver and workers, clients) is measured over the same window.

Targets (issue 14): on 2 cores, 2 sessions >= 1.4x the steps/s of one; no collapse at 4
and 8. The load of the machine (its 1-minute load average) is printed with each line: the
numbers are only comparable at the same load.

    python -m bench.bench_sessions [--client protocol|browser] [--sessions 1 2 4 8] [--seconds 20]
        [--warm-up 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from bench.bench_dashboard import CHROMIUM, CHROMIUM_ARGS, WATCH_REFRESHES, free_port, start_app
from bench.protocol_client import ProtocolSession

ROOT = Path(__file__).resolve().parent.parent
WORKERS_DEFAULT = os.cpu_count() or 1


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def memory_mb(pid: int) -> dict[str, float]:
    """RSS and PSS of the process tree under ``pid``, and of its root alone, in MB."""
    totals = {"rss": 0.0, "pss": 0.0}
    root: dict[str, float] = {}
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        values = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in lines[1:] if line.endswith("kB")}
        for key, name in (("rss", "Rss"), ("pss", "Pss")):
            totals[key] += values.get(name, 0.0)
        if member == pid:
            root = {"rss": values.get("Rss", 0.0), "pss": values.get("Pss", 0.0)}
    return {"tree_rss": totals["rss"], "tree_pss": totals["pss"], "server_rss": root.get("rss", 0.0)}


def stop(server: subprocess.Popen) -> None:
    """The server and every process it started (its workers exit on their own once it is
    gone, but a bench leaves nothing behind)."""
    tree = process_tree(server.pid)
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
    for pid in tree[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far (those still running)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def cpu_users(server: int) -> dict[str, list[int]]:
    """Who uses the CPU: the server's interpreter, its other processes (forkserver, workers),
    and the clients (this bench and its descendants but the server: the browsers, or the
    protocol clients in this very process)."""
    tree = process_tree(server)
    return {
        "server": tree[:1],
        "workers": tree[1:],
        "clients": [p for p in process_tree(os.getpid()) if p not in tree],
    }


def load_average() -> float:
    return os.getloadavg()[0]


def open_session(browser, url: str) -> Page:
    """A session of its own: a new browser context (no shared cookies or storage)."""
    page = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
    page.set_default_timeout(180_000)
    page.goto(url)
    page.get_by_text("Overlooked columns · Adult").wait_for()
    return page


def measure(
    browser, url: str, pages: list[Page], n: int, warm_up: float, seconds: float, server: int, browser_nice: int
) -> dict:
    """Open sessions until ``n`` play (``pages`` holds those already playing), then watch them all."""
    new = [open_session(browser, url) for _ in range(n - len(pages))]
    for page in new:
        page.locator(".st-key-play button").click()
    for page in new:
        page.locator(".st-key-pause").wait_for()
    pages.extend(new)
    renice([p for p in cpu_users(server)["clients"] if p != os.getpid()], browser_nice)
    time.sleep(warm_up)
    for page in pages:
        page.evaluate(WATCH_REFRESHES)
    load_before = load_average()
    users = cpu_users(server)
    cpu_before, started = {k: cpu_seconds(v) for k, v in users.items()}, time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    cpu = {k: (cpu_seconds(v) - cpu_before[k]) / elapsed for k, v in users.items()}
    watched = []
    for page in pages:
        watched.append([(t / 1000, step) for t, step in page.evaluate("window.__refreshes")])
        page.evaluate("clearInterval(window.__watch)")
    exceptions = sum(page.locator('[data-testid="stException"]').count() for page in pages)
    return _result(n, watched, server, [load_before, load_average()], cpu, exceptions)


def _result(n: int, watched: list[list[tuple[float, str]]], server: int, load: list[float], cpu, exceptions) -> dict:
    """One N's line: ``watched`` holds each session's (seconds, step counter) refreshes in the window."""
    rates, intervals = [], []
    for refreshes in watched:
        if len(refreshes) >= 2:
            (t0, s0), (t1, s1) = refreshes[0], refreshes[-1]
            rates.append((int(s1.replace(",", "")) - int(s0.replace(",", ""))) / (t1 - t0))
        else:
            rates.append(0.0)
        intervals.extend(_gaps(refreshes))
    return {
        "sessions": n,
        "steps_per_second": sum(rates),
        "per_session": rates,
        "refresh_interval_s": _summary(intervals),
        "memory_mb": memory_mb(server),
        "load_average_1min": load,
        "cores_used": cpu,
        "exceptions": exceptions,
    }


async def measure_protocol(
    url: str, sessions: list[ProtocolSession], n: int, warm_up: float, seconds: float, server: int
) -> dict:
    """``measure`` with protocol clients: open sessions until ``n`` play, then watch them all."""
    new = [ProtocolSession(url) for _ in range(n - len(sessions))]
    for session in new:
        await session.open()
        await session.click("play")
        if "pause" not in session.page.widget_ids:
            raise RuntimeError("the page shows no Pause button after Play: " + "; ".join(session.page.exceptions))
    sessions.extend(new)
    await asyncio.sleep(warm_up)
    load_before = load_average()
    users = cpu_users(server)
    cpu_before, started = {k: cpu_seconds(v) for k, v in users.items()}, time.perf_counter()
    window_start = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    cpu = {k: (cpu_seconds(v) - cpu_before[k]) / elapsed for k, v in users.items()}
    watched = [[(t, step) for t, step in s.page.changes if t >= window_start] for s in sessions]
    exceptions = sum(len(s.page.exceptions) for s in sessions)
    return _result(n, watched, server, [load_before, load_average()], cpu, exceptions)


def _gaps(refreshes: list) -> list[float]:
    times = [t for t, _ in refreshes]
    return [b - a for a, b in itertools.pairwise(times)]


def _summary(gaps: list[float]) -> dict:
    if not gaps:
        return {"mean": None, "median": None, "max": None}
    return {"mean": statistics.fmean(gaps), "median": statistics.median(gaps), "max": max(gaps)}


def renice(pids: list[int], nice: int) -> None:
    """Every thread of ``pids`` at niceness ``nice``: the browsers stand for the students' own
    machines, so they get what the server leaves of this one's CPU, not a share of its own.
    (Chromium sets its renderers' and GPU process's priorities itself, so a nice launcher is
    not enough: each thread is reniced once the sessions are open.)"""
    if nice == 0:
        return
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


def cpu_text(cores: dict[str, float]) -> str:
    return f"{cores['server']:.2f} / {cores['workers']:.2f} / {cores['clients']:.2f}"


def _print_line(result: dict, results: list[dict]) -> None:
    one = results[0]["steps_per_second"] or float("nan")
    refresh, memory = result["refresh_interval_s"], result["memory_mb"]
    per = " ".join(f"{r:.0f}" for r in result["per_session"])
    refresh_text = "-" if refresh["mean"] is None else f"{refresh['mean']:.2f}/{refresh['max']:.2f} s"
    print(
        f"{result['sessions']:2d}  {result['steps_per_second']:8.1f}  {result['steps_per_second'] / one:5.2f}   "
        f"{per:<22} {refresh_text:<18} {memory['tree_pss']:6.0f} MB ({memory['tree_rss']:.0f} MB)"
        f"   {cpu_text(result['cores_used']):<32}"
        f" {result['load_average_1min'][0]:.2f}->{result['load_average_1min'][1]:.2f}"
        + (f"  {result['exceptions']} EXCEPTIONS" if result["exceptions"] else ""),
        flush=True,
    )


def _with_browsers(args: argparse.Namespace, url: str, server: int, results: list[dict]) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages: list[Page] = []
        for n in sorted(args.sessions):
            results.append(measure(browser, url, pages, n, args.warm_up, args.seconds, server, args.browser_nice))
            _print_line(results[-1], results)
        browser.close()


async def _with_protocol_clients(args: argparse.Namespace, url: str, server: int, results: list[dict]) -> None:
    sessions: list[ProtocolSession] = []
    try:
        for n in sorted(args.sessions):
            results.append(await measure_protocol(url, sessions, n, args.warm_up, args.seconds, server))
            _print_line(results[-1], results)
    finally:
        for session in sessions:
            await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("protocol", "browser"), default="protocol", help="see the module doc")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=20, help="how long each N is measured")
    parser.add_argument("--warm-up", type=float, default=8, help="playing before the measurement starts")
    parser.add_argument("--workers", type=int, default=WORKERS_DEFAULT, help="the server's training workers")
    parser.add_argument("--browser-nice", type=int, default=10, help="niceness of the browsers (0: none)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    port = free_port()
    env = {
        "OVERLOOK_TRAINING_WORKERS": str(args.workers),
        "OVERLOOK_MAX_TRAINING_SESSIONS": str(4 * sum(args.sessions)),
    }
    server = start_app(port, env)
    results: list[dict] = []
    try:
        idle = memory_mb(server.pid)
        print(
            f"{os.cpu_count()} cores, {args.workers} training workers, {args.client} clients; "
            f"server before any session: {idle['tree_pss']:.0f} MB PSS"
        )
        print(
            " N   steps/s  x one   per session            refresh mean/max   server+workers PSS (RSS)"
            "   cores: server/workers/clients    load"
        )
        url = f"http://127.0.0.1:{port}"
        if args.client == "browser":
            _with_browsers(args, url, server.pid, results)
        else:
            asyncio.run(_with_protocol_clients(args, url, server.pid, results))
    finally:
        stop(server)
    by_n = {r["sessions"]: r for r in results}
    if 1 in by_n and 2 in by_n:
        ratio = by_n[2]["steps_per_second"] / by_n[1]["steps_per_second"]
        print(f"2 sessions = {ratio:.2f}x one (target >= 1.4: {'met' if ratio >= 1.4 else 'NOT met'})")
    # from the first N with every worker started: a worker's start is a cost of its own
    steady = [r for r in results if r["sessions"] >= args.workers]
    if len(steady) >= 2:
        first, last = steady[0], steady[-1]
        extra = (last["memory_mb"]["tree_pss"] - first["memory_mb"]["tree_pss"]) / max(
            1, last["sessions"] - first["sessions"]
        )
        print(f"memory per additional session: {extra:.0f} MB PSS (from N={first['sessions']} to N={last['sessions']})")
    if args.json:
        args.json.write_text(json.dumps({"client": args.client, "idle_memory_mb": idle, "results": results}, indent=2))


if __name__ == "__main__":
    main()

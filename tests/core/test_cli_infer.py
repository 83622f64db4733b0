"""``python -m core infer``: schema JSON on stdout, or exit 2 with one ``error:`` line on stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import core.cli
from core.cli import COMMANDS, EXIT_BAD_INPUT, EXIT_INTERNAL, main
from core.io import load_table
from tests.paths import CORPUS, REPO, SAMPLES

KEYS = {"name", "type", "n_classes", "reason", "excluded", "categories"}


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("target", ["penguins.csv", "Wine"])
def test_infer_prints_the_schema_of_load_table(target, capsys):
    code, out, err = _run(["infer", str(SAMPLES / target)], capsys)
    assert code == 0 and err == ""
    printed = json.loads(out)
    assert all(set(item) == KEYS for item in printed)
    assert printed == json.loads(load_table(SAMPLES / target).schema.to_json())


def test_infer_with_a_types_file(tmp_path, capsys):
    types = tmp_path / "types.csv"
    types.write_text("type,dim,nclass\n" + "cat,3,3\n" * 2 + "real,1,\n" * 4 + "cat,2,2\nordinal,3,3\n")
    code, out, _ = _run(["infer", str(SAMPLES / "penguins.csv"), "--types", str(types)], capsys)
    assert code == 0
    by_name = {item["name"]: item for item in json.loads(out)}
    assert by_name["year"]["type"] == "ordinal" and by_name["year"]["categories"] == [2007, 2008, 2009]
    assert by_name["rownames"]["excluded"] is True


@pytest.mark.parametrize(
    "argv, message",
    [
        (["infer", "/nonexistent.csv"], "no file or folder"),
        (["infer", str(CORPUS / "empty.csv")], "the file is empty"),
        (["infer", str(CORPUS / "binary_garbage.csv")], "binary"),
        (["infer", str(CORPUS / "ragged_long_row.csv")], "line 5 has 4 fields"),
        (["infer", str(CORPUS / "five_rows.csv")], "5 data rows"),
        (["infer", str(SAMPLES / "penguins.csv"), "--types", "/nonexistent.csv"], "not found"),
        (["infer"], "required: path"),
        ([], "required: COMMAND"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(argv, message, capsys):
    code, out, err = _run(argv, capsys)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1
    assert err.startswith("error: ") and message in err


def test_a_bug_still_gives_one_line_and_exit_1(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(core.cli, "load_table", broken)
    code, _out, err = _run(["infer", "x.csv"], capsys)
    assert code == EXIT_INTERNAL
    assert err.count("\n") == 1 and err.startswith("error: internal error (KeyError)")


def test_help_exits_0(capsys):
    code, out, _ = _run(["infer", "--help"], capsys)
    assert code == 0 and "--types" in out


def test_commands_are_registered_in_a_dict():
    assert "infer" in COMMANDS and callable(COMMANDS["infer"].run)


def _module(*args):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_python_dash_m_core_infer():
    done = _module("infer", str(SAMPLES / "CPS1985.csv"))
    assert done.returncode == 0, done.stderr
    assert {item["name"] for item in json.loads(done.stdout)} >= {"wage", "education", "union"}


def test_python_dash_m_core_infer_bad_input():
    done = _module("infer", str(CORPUS / "duplicate_names.csv"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "error: duplicate column name 'b' in the header\n"
    assert "Traceback" not in done.stderr


def _console_script() -> str:
    """The installed ``overlook`` command, preferring the one beside this interpreter."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("overlook", path=search)
    if found is None:
        pytest.fail("no `overlook` command found: install the project first (pip install -e .)")
    return found


@pytest.mark.parametrize(
    "args",
    [["infer", "sample_data/penguins.csv"], ["infer", str(CORPUS / "duplicate_names.csv")], ["methods"]],
    ids=["penguins", "bad-input", "methods"],
)
def test_the_overlook_command_is_python_dash_m_core(args):
    installed = subprocess.run([_console_script(), *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    module = _module(*args)
    assert (installed.returncode, installed.stdout, installed.stderr) == (
        module.returncode,
        module.stdout,
        module.stderr,
    )
    if args[1:] == ["sample_data/penguins.csv"]:
        assert installed.returncode == 0 and json.loads(installed.stdout)[0]["name"] == "rownames"


def test_help_names_the_command_it_was_called_by():
    installed = subprocess.run([_console_script(), "--help"], capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0 and installed.stdout.startswith("usage: overlook ")
    assert _module("--help").stdout.startswith("usage: python -m core ")

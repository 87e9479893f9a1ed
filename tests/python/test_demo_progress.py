"""examples/python/demo.py shows a tqdm bar only on a terminal; elsewhere
(a pipe, a log, pytest's capture) one summary line."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))

import demo  # noqa: E402

import kalam  # noqa: E402


def test_no_bar_when_stdout_is_not_a_terminal(tmp_path, capsys):
    with kalam.open(str(tmp_path / "s")) as db:
        demo.load_events(db, rows=3000, segments=3, batch_rows=1000)
    out = capsys.readouterr().out
    assert "\r" not in out and "loading events" not in out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].strip().startswith("loaded 3,000 events into 3 segments in ")
    assert lines[0].endswith("rows/s)")


def test_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    with kalam.open(str(tmp_path / "s")) as db:
        demo.load_events(db, rows=3000, segments=3, batch_rows=1000)
    out = capsys.readouterr().out
    assert "loading events" in out and "3.00k/3.00k" in out  # tqdm's bar
    assert "loaded 3,000 events" not in out


def test_progress_false_prints_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    with kalam.open(str(tmp_path / "s")) as db:
        demo.load_events(db, rows=2000, segments=2, batch_rows=1000, progress=False)
    assert capsys.readouterr().out == ""


def test_script_through_a_pipe_has_no_bar(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "bindings", "python"), env.get("PYTHONPATH", "")])
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "python", "demo.py"), str(tmp_path / "d"), "--rows", "4000", "--segments", "2"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stdout and "\r" not in p.stderr and "loading events" not in p.stdout + p.stderr
    assert "loaded 4,000 events into 2 segments" in p.stdout

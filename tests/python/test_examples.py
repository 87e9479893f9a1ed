"""The demo script and the analytics notebook run end to end on small data."""

from __future__ import annotations

import os
import sys

import pytest

import kalam

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))

import demo  # noqa: E402


def test_demo_runs_twice_on_the_same_store(tmp_path, capsys):
    path = str(tmp_path / "demo-data")
    for _ in range(2):  # the second run finds the store and recreates the table
        assert demo.main([path, "--rows", "20000", "--segments", "4", "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert "segments read: 1, pruned: 3" in out
        assert "the filter bounds the key range: yes" in out
        assert "system.tables" in out and "system.segments" in out and "system.live_queries" in out
        assert "demo: a scan kept open" in out
    with kalam.open(path) as db:
        t = db.table(demo.TABLE)
        assert t.count_rows() == 20000 - 2  # two deletes, three upserts of existing ids
        live = [s for s in t.manifest()["segments"] if not s["tombstone"]]
        assert [s["row_count"] for s in live] == [5000] * 4
        assert t.scan(filter="id = 1").to_table().column("user_id").to_pylist() == ["user_x"]


def test_notebook_executes(tmp_path, monkeypatch):
    # Pinned in requirements-dev.txt: a missing package is a failure, not a skip.
    import nbclient
    import nbformat
    nb_path = os.path.join(ROOT, "examples", "notebooks", "analytics.ipynb")
    nb = nbformat.read(nb_path, as_version=4)
    monkeypatch.setenv("KALAM_DEMO_PATH", str(tmp_path / "nb-store"))
    monkeypatch.setenv("KALAM_NOTEBOOK_ROWS", "20000")
    scratch = tmp_path / "tmp"  # where the notebook's tempfile puts its lab store
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(nb_path)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    text = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"
    )
    assert "20,000 rows" in text and "pruned:" in text
    # Hot rows vs segments, with the numbers agreeing after the compaction.
    assert "hot row versions are in no segment" in text and "they agree:" in text
    # Pruning from explain(): an id range reads one of the four segments.
    assert "read: 1, pruned: 3" in text
    # Polars pushed its filter into libkalam.
    assert "libkalam received:" in text and "kind IN ('purchase', 'add_to_cart')" in text
    assert "event_time >= '2024-05-25T00:00:00Z'" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # segments read/pruned per filter, scan time before/after compaction
    views = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "text/html" in o.get("data", {})]
    html = "".join(o["data"]["text/html"] for o in views)
    assert "kalam.Table" in html and "kalam.Scan" in html  # the Jupyter views rendered
    # The notebook removes the scratch store it made (runs left /tmp/kalam-lab-* behind).
    assert [p.name for p in scratch.iterdir() if p.name.startswith("kalam-lab-")] == []

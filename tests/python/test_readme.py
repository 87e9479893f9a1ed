"""The README's Python examples run as written, in order, on a fresh
directory (with a small demo store for the intro's example). A block that
starts with "# Not run by the README test" says why it is not run."""

from __future__ import annotations

import os
import re
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))

import demo  # noqa: E402

SKIP = "# Not run by the README test"


def _blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_python_examples():
    blocks = _blocks()
    assert len(blocks) >= 4
    assert sum(not b.startswith(SKIP) for b in blocks) >= 4


def test_readme_python_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("kalam_datafusion", reason="the README's engine example needs the kalam-datafusion wheel (make datafusion-wheel; make test installs it)")
    monkeypatch.chdir(tmp_path)
    assert demo.main(["./demo-data", "--rows", "20000", "--segments", "2", "--no-progress"]) == 0
    ns: dict = {}
    for i, block in enumerate(_blocks()):
        if block.startswith(SKIP):
            continue
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), ns)
        except Exception as e:  # name the block: the traceback shows its line
            raise AssertionError(f"README python block {i + 1} failed: {e!r}\n{block}") from e
    # The tour's claims, checked on what it left behind.
    import pyarrow as pa

    import kalam

    with kalam.open("./tour-data", read_only=True) as db:
        t = db.table("app.events")
        got = t.scan().to_table().to_pydict()
        assert t.schema.names == ["id", "kind", "value", "qty"]
        assert t.schema.field("qty").type == pa.int64()
        assert got["id"] == [3, 4, 9, 10]  # 2 was a click
        assert got["kind"][got["id"].index(3)] == "refund"
        assert got["value"][got["id"].index(4)] == 3.0

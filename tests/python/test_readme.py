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


def test_readme_c_program_builds_and_runs(tmp_path, monkeypatch):
    """The README's C program (the block with a main) compiles against
    include/kalam.h and the library, and run where the tour left its store
    prints the rows of its filter; run elsewhere it refuses to make an
    empty store."""
    import shutil
    import subprocess

    import pyarrow as pa

    import kalam
    from kalam._ffi import library_path

    blocks = re.findall(r"```c\n(.*?)```", open(os.path.join(ROOT, "README.md"), encoding="utf-8").read(), flags=re.S)
    program = [b for b in blocks if "int main" in b]
    assert len(program) == 1
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler (bootstrap installs gcc)"
    libdir = tmp_path / "lib"
    libdir.mkdir()
    os.symlink(library_path(), libdir / "libkalam.so.0")  # the soname the program asks for
    os.symlink(library_path(), libdir / "libkalam.so")
    src = tmp_path / "scan.c"
    src.write_text(program[0])
    exe = tmp_path / "scan"
    subprocess.run([cc, str(src), "-I", os.path.join(ROOT, "include"), f"-L{libdir}", "-lkalam", "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    refused = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "tour-data" in refused.stderr, refused
    assert not (run / "tour-data").exists()
    with kalam.open("./tour-data") as db:
        db.create_namespace("app")
        db.create_table("app.events", pa.table({"id": pa.array([1, 2, 3, 4, 5], pa.int64())}), primary_key=["id"])
    ok = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok
    assert ok.stdout.strip() == "3 rows with id >= 3"

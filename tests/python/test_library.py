"""Finding libkalam: KALAM_LIBRARY, next to the package, the repository build."""

from __future__ import annotations

import os
import subprocess
import sys

import kalam

SNIPPET = "import kalam; print(kalam.library_path()); print(kalam.library_version())"


def _run(env_changes: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, timeout=60)


def test_kalam_library_selects_the_library():
    path = kalam.library_path()
    out = _run({"KALAM_LIBRARY": path})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [path, kalam.library_version()]


def test_a_missing_kalam_library_is_an_error_naming_it():
    out = _run({"KALAM_LIBRARY": "/nonexistent/libkalam.so"})
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "/nonexistent/libkalam.so" in out.stderr


def test_without_kalam_library_the_package_or_repository_build_is_used():
    out = _run({"KALAM_LIBRARY": None})
    pkg_dir = os.path.dirname(kalam.__file__)
    candidates = [
        os.path.join(pkg_dir, "libkalam.so"),
        os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(pkg_dir))), "build", "libkalam.so"),
    ]
    present = [c for c in candidates if os.path.isfile(c)]
    if not present:
        assert out.returncode != 0 and "make lib" in out.stderr
        return
    assert out.returncode == 0, out.stderr
    assert os.path.realpath(out.stdout.splitlines()[0]) == os.path.realpath(present[0])


def test_importing_does_not_load_the_library():
    code = "import kalam, kalam._ffi as f; assert f._loaded is None; print('lazy')"
    env = dict(os.environ, KALAM_LIBRARY="/nonexistent/libkalam.so")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "lazy", out.stderr


def test_version_and_public_names():
    assert kalam.library_version() == "0.1.0"
    for name in kalam.__all__:
        obj = getattr(kalam, name)
        assert obj.__doc__, f"{name} has no docstring"

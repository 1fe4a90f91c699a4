"""Test-wide settings.

float64 parity needs 64-bit JAX: it is enabled before any test builds an array. Tests that
compare against a live torch carry the ``live_torch`` marker (CI runs them after installing
torch with ``pytest -m live_torch``): a test whose name starts ``test_live_`` or ends ``_live`` or
says ``live_torch``, one that takes the ``torch`` fixture, and every test of a ``*_live.py`` file.
Where torch is not installed they are left out of the run (deselected, as the header says), not
collected only to skip one by one.

Tests marked ``resource`` (long runs that watch compilations and memory) run only when asked
for, ``pytest -m resource``, as CI does; tests marked ``slow`` (the exhaustive variants of a
table: every configuration, dtype and path where the default run keeps a representative few)
are left out of the run unless asked for, ``pytest -m slow``, as CI does too. Property-based
tests use hypothesis's ``default`` profile, a few dozen examples each;
``--hypothesis-profile=long`` (CI's live run) draws ten times as many.

Each run compiles through a persistent compilation cache of its own (a fresh temporary
directory, shared by the xdist workers, removed at the end): many tests compile the very same
program (a configuration's step, a problem's grad), which then compiles once per run; the
default run takes ~20% less time. Nothing outlives the run, so no test sees another run's programs.
"""

import importlib.util
import os
import re
import shutil
import tempfile

import hypothesis
import jax
import pytest

jax.config.update("jax_enable_x64", True)

_CACHE_VARIABLE = "FUNCTIONAL_OPTIM_TEST_COMPILATION_CACHE"
_CACHE_OWNER = pytest.StashKey[bool]()
_LIVE_NAME = re.compile(r"^test_live_|_live$|live_torch")
_TORCH_INSTALLED = importlib.util.find_spec("torch") is not None

hypothesis.settings.register_profile("default", max_examples=25, deadline=None, print_blob=True)
hypothesis.settings.register_profile("long", max_examples=250, deadline=None, print_blob=True)
hypothesis.settings.load_profile("default")


def pytest_configure(config: pytest.Config) -> None:
    """The run's compilation cache: made by the first process (the xdist controller), inherited by its workers."""
    if _CACHE_VARIABLE not in os.environ:
        os.environ[_CACHE_VARIABLE] = tempfile.mkdtemp(prefix="functional_optim-compilation-cache-")
        config.stash[_CACHE_OWNER] = True
    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_VARIABLE])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


@pytest.fixture
def torch():
    """The installed torch, for a test that compares with it (which makes the test ``live_torch``)."""
    return pytest.importorskip("torch", reason="comparing with torch needs torch (pip install torch==2.13.0)")


def pytest_report_header() -> str | None:
    if _TORCH_INSTALLED:
        return None
    return "torch is not installed: the live_torch tests are left out (pip install torch==2.13.0)"


def _is_live(item: pytest.Item) -> bool:
    name = getattr(item, "originalname", item.name)
    uses_torch = "torch" in getattr(item, "fixturenames", ())
    return item.path.stem.endswith("_live") or uses_torch or bool(_LIVE_NAME.search(name))


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_CACHE_OWNER, False):
        shutil.rmtree(os.environ.pop(_CACHE_VARIABLE), ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked_for = config.getoption("markexpr") or ""
    kept, left_out = [], []
    for item in items:
        live = _is_live(item)
        if live:
            item.add_marker(pytest.mark.live_torch)
        if item.get_closest_marker("resource") and "resource" not in asked_for:
            item.add_marker(pytest.mark.skip(reason="a long resource run: pytest -m resource (CI runs it)"))
        slow_unasked = item.get_closest_marker("slow") and "slow" not in asked_for
        (left_out if slow_unasked or (live and not _TORCH_INSTALLED) else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept

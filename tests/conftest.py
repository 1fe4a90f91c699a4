"""Test-wide settings.

float64 parity needs 64-bit JAX: it is enabled before any test builds an array. Tests that
compare against a live torch carry the ``live_torch`` marker (CI runs them after installing
torch with ``pytest -m live_torch``); they skip with a reason where torch is not installed.

Tests marked ``resource`` (long runs that watch compilations and memory) run only when asked
for, ``pytest -m resource``, as CI does; tests marked ``slow`` (the exhaustive variants of a
table: every configuration, dtype and path where the default run keeps a representative few)
are left out of the run unless asked for, ``pytest -m slow``, as CI does too. Property-based
tests use hypothesis's ``default`` profile, a few dozen examples each;
``--hypothesis-profile=long`` (CI's live run) draws ten times as many.
"""

import hypothesis
import jax
import pytest

jax.config.update("jax_enable_x64", True)

hypothesis.settings.register_profile("default", max_examples=25, deadline=None, print_blob=True)
hypothesis.settings.register_profile("long", max_examples=250, deadline=None, print_blob=True)
hypothesis.settings.load_profile("default")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked_for = config.getoption("markexpr") or ""
    kept, left_out = [], []
    for item in items:
        if "live" in item.nodeid:
            item.add_marker(pytest.mark.live_torch)
        if item.get_closest_marker("resource") and "resource" not in asked_for:
            item.add_marker(pytest.mark.skip(reason="a long resource run: pytest -m resource (CI runs it)"))
        slow_unasked = item.get_closest_marker("slow") and "slow" not in asked_for
        (left_out if slow_unasked else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept

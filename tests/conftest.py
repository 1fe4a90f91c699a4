"""Test-wide settings.

float64 parity needs 64-bit JAX: it is enabled before any test builds an array. Tests that
compare against a live torch carry the ``live_torch`` marker (CI runs them after installing
torch with ``pytest -m live_torch``); they skip with a reason where torch is not installed.
"""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "live" in item.nodeid:
            item.add_marker(pytest.mark.live_torch)

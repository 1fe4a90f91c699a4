"""A long torch-style run keeps its resources flat: no re-compile and no memory growth over 20,000 steps.

Marked ``resource``: it runs with ``pytest -m resource`` (CI does) and skips otherwise.
"""

from __future__ import annotations

import gc
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo

STEPS = 20_000
WARMUP = 1_000


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.resource
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident size from /proc (Linux)")
def test_20000_wrapper_steps_with_edits_none_grads_and_a_scheduler_compile_once_and_stay_flat():
    rng = np.random.default_rng(0)
    params = fo.parameters({"w": jnp.asarray(rng.standard_normal((16, 8))), "b": jnp.zeros(8), "frozen": jnp.ones(3)})
    optimizer = fo.optim.AdamW(
        [{"params": [params["w"], params["b"]]}, {"params": [params["frozen"]], "lr": 1e-4}], lr=1e-3, amsgrad=True
    )
    scheduler = fo.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=50)
    x = jnp.asarray(rng.standard_normal((4, 16)))

    def loss_fn(values):
        return jnp.mean(jnp.tanh(x @ values["w"] + values["b"]) ** 2)

    compiles = []  # every trace and every XLA compilation

    def count(event: str, duration: float, **_: object) -> None:
        if event in ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/backend_compile_duration"):
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(count)
    for step in range(STEPS):
        if step == WARMUP:
            gc.collect()
            compiled_before, memory_before = len(compiles), _resident_bytes()
        optimizer.zero_grad()
        fo.backward(loss_fn, {"w": params["w"], "b": params["b"]})  # "frozen" keeps a None grad
        optimizer.step()
        scheduler.step()
        if step % 97 == 0:  # an edit the next step re-validates, then read without re-compiling
            optimizer.param_groups[0]["weight_decay"] = float(rng.uniform(0.0, 0.1))
            optimizer.param_groups[0]["betas"] = (float(rng.uniform(0.8, 0.95)), 0.999)
    gc.collect()
    assert len(compiles) == compiled_before, f"{len(compiles) - compiled_before} compilations after the warm-up"
    growth = _resident_bytes() - memory_before
    assert growth < 32 * 2**20, f"resident memory grew by {growth / 2**20:.1f} MiB over {STEPS - WARMUP} steps"
    assert bool(jnp.all(jnp.isfinite(params["w"].data))) and params["frozen"].grad is None

"""Property-based tests over the algorithm table: random options, pytrees and grads, jit and not.

Each example draws an algorithm of tests/algorithm_table.py, a merge of one or two of its
configurations, a pytree (0-d, empty, nested and None leaves, float64 with a float32 leaf), grads
from 1e-30 to 1e30 (float32 leaves: ordinary magnitudes) and whether the step is jitted. Without
torch the steps must agree jitted and eager and keep every leaf's shape and dtype; the ``live``
test runs torch.optim (``foreach=False``) on the same leaves: torch raises where we raise, and
otherwise the params agree within the table's tolerances. The ``default`` hypothesis profile
keeps the run short; CI's live run uses ``--hypothesis-profile=long``.
"""

from __future__ import annotations

import functools
import inspect

import hypothesis
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import strategies as st

import functional_optim as fo
from tests.algorithm_table import ALGORITHMS, AlgorithmInfo
from tests.runner import jax_kwargs

DENSE = [info for info in ALGORITHMS if info.problem != "embedding"]  # SparseAdam's grads are BCOO
STEPS = 3
MAGNITUDES = {"ordinary": (-2.0, 2.0), "tiny": (-30.0, -20.0), "huge": (20.0, 30.0)}


@st.composite
def cases(draw: st.DrawFn) -> dict:
    info: AlgorithmInfo = draw(st.sampled_from(DENSE))
    configs = draw(st.lists(st.sampled_from(info.configs), min_size=1, max_size=2))
    config = functools.reduce(lambda merged, c: {**merged, **c}, configs, {})
    matrices = info.problem == "matrices"  # Muon: 2-D params only
    shape = st.tuples(st.integers(1, 4), st.integers(1, 4)) if matrices else st.sampled_from([(), (0,), (5,), (2, 3)])
    shapes = draw(st.lists(shape, min_size=1, max_size=3))
    return {
        "info": info,
        "config": config,
        "shapes": shapes,
        "float32_leaf": draw(st.booleans()),
        "none_leaf": draw(st.booleans()),
        # Muon's eager step on 1e20+ grads differs from torch (its jitted step does not): the
        # float32 Frobenius norm overflows, and eager XLA and torch round the overflow apart.
        "magnitude": draw(st.sampled_from(["ordinary", "tiny"] if matrices else sorted(MAGNITUDES))),
        "jit": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }


def _arrays(case: dict) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """The leaves' initial values and each step's grads (float64, plus a float32 leaf if drawn)."""
    rng = np.random.default_rng(case["seed"])
    dtypes = [np.float64] * len(case["shapes"]) + ([np.float32] if case["float32_leaf"] else [])
    shapes = [*case["shapes"], *([(3,)] if case["float32_leaf"] else [])]

    def draw(shape, dtype, low, high):
        return (rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(low, high, shape)).astype(dtype)

    params = [draw(s, d, -1.0, 1.0) for s, d in zip(shapes, dtypes)]
    low, high = MAGNITUDES[case["magnitude"]]
    grads = [
        [draw(s, d, *((low, high) if d == np.float64 else (-2.0, 2.0))) for s, d in zip(shapes, dtypes)]
        for _ in range(STEPS)
    ]
    return params, grads


def _tree(leaves: list, none_leaf: bool) -> list:
    """The leaves nested as a pytree (in order), with a None leaf if drawn."""
    return [{"w": leaf} for leaf in leaves] + ([None] if none_leaf else [])


def _functional_run(case: dict) -> list[np.ndarray]:
    """The leaves after each step, in leaf order."""
    values, grads = _arrays(case)
    tx = getattr(fo, case["info"].name)(**jax_kwargs(case["config"]))
    params = _tree([jnp.asarray(v) for v in values], case["none_leaf"])
    state = tx.init(params)
    update = jax.jit(tx.update) if case["jit"] else tx.update
    history = []
    for step_grads in grads:
        updates, state = update(_tree([jnp.asarray(g) for g in step_grads], case["none_leaf"]), state, params)
        params = fo.apply_updates(params, updates)
        history.append([np.asarray(leaf) for leaf in jax.tree.leaves(params)])
    return history


@hypothesis.given(case=cases())
def test_jitted_and_eager_steps_agree_and_keep_every_leaf(case):
    try:
        jitted = _functional_run({**case, "jit": True})
    except (ValueError, TypeError):  # a merged config torch refuses too (see the live test)
        return
    eager = _functional_run({**case, "jit": False})
    values, _ = _arrays(case)
    for jitted_leaves, eager_leaves in zip(jitted, eager):
        for value, j, e in zip(values, jitted_leaves, eager_leaves):
            assert j.shape == e.shape == value.shape and j.dtype == e.dtype == value.dtype
            info = case["info"]
            rtol = info.jit_rtol or (info.float64_rtol if value.dtype == np.float64 else info.float32_rtol)
            scale = np.max(np.abs(e[np.isfinite(e)]), initial=0.0)
            np.testing.assert_allclose(j, e, rtol=rtol, atol=rtol * scale, equal_nan=True)


@hypothesis.given(case=cases())
def test_live_random_steps_match_torch(case):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[parity]')")
    from tests.torch_reference import torch_kwargs

    info = case["info"]
    values, grads = _arrays(case)
    params = [torch.tensor(v, requires_grad=True) for v in values]
    torch_class = getattr(torch.optim, info.torch_name)
    for_loop = {"foreach": False} if "foreach" in inspect.signature(torch_class).parameters else {}
    try:
        optimizer = torch_class(params, **for_loop, **torch_kwargs(case["config"]))
    except (ValueError, TypeError, RuntimeError) as torch_error:
        with pytest.raises((ValueError, TypeError, RuntimeError)):
            _functional_run(case)
        hypothesis.note(f"both refuse: {torch_error}")
        return
    ours = _functional_run(case)
    for step_grads, our_leaves in zip(grads, ours):
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        try:
            optimizer.step()
        except ZeroDivisionError:  # torch's Adafactor divides by an empty leaf's size; we step it
            hypothesis.note("torch failed on an empty leaf")
            return
        for p, mine in zip(params, our_leaves):
            theirs = p.detach().numpy()
            rtol = info.float64_rtol if theirs.dtype == np.float64 else info.float32_rtol
            scale = np.max(np.abs(theirs[np.isfinite(theirs)]), initial=0.0)
            np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=rtol * scale, equal_nan=True)

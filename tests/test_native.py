"""The native CPU kernels: where they run, what the compiled step looks like, and how they fail.

Their numbers are tested with everyone else's: the parity and half-precision suites run every
algorithm with a kernel on both paths (tests/test_parity_golden.py, tests/test_low_precision.py).
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim import native
from tests.algorithm_table import ALGORITHMS, ALGORITHMS_BY_NAME
from tests.runner import kernel_paths, on_path

NATIVE_ALGORITHMS = [info.name for info in ALGORITHMS if "native" in kernel_paths(info.name)]
# Every option that changes the kernel's loop, per algorithm.
OPTION_CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.1, "maximize": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("adam", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1}),
    ("adam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("adamw", {"lr": 0.1}),
    ("rmsprop", {"lr": 0.1, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.1, "maximize": True}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.1, "maximize": True}),
    ("adadelta", {"lr": 0.1, "rho": 0.5, "weight_decay": 0.1, "maximize": True}),
    # ax is a copy of the param at steps 1 and 2 (mu = 1), an average at step 3 (mu = 1/2)
    ("asgd", {"lr": 0.1, "lambd": 0.1, "t0": 0, "weight_decay": 0.1, "maximize": True}),
    ("rprop", {"lr": 0.1, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
    ("adamax", {"lr": 0.1, "weight_decay": 0.1, "maximize": True}),
    ("nadam", {"lr": 0.1, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("nadam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("radam", {"lr": 0.1, "weight_decay": 0.1, "maximize": True}),
    ("radam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True}),
]
DTYPES = ("float64", "float32", "bfloat16", "float16")


def tree(dtype: str, seed: int = 0) -> dict:
    """Leaves of every shape the kernels meet: matrix, vector, 0-d, a size that fills no vector, empty."""
    rng = np.random.default_rng(seed)
    shapes = {"w": (3, 64), "b": (64,), "s": (), "odd": (37,), "empty": (0,)}
    return {k: jnp.asarray(rng.standard_normal(shape), dtype) for k, shape in shapes.items()}


def donated_step(tx: fo.GradientTransformation, params: dict) -> jax.stages.Traced:
    state = tx.init(params)
    step = jax.jit(lambda params, state, grads: fo.apply_gradients(tx, grads, state, params), donate_argnums=(0, 1))
    return step.trace(params, state, params)


def test_the_kernels_were_built_where_a_compiler_was():
    """CI installs with a compiler: the native path is the default there (FUNCTIONAL_OPTIM_KERNELS unset)."""
    if not native.available():
        pytest.skip("the native kernels were not built (no C++ compiler at install time)")
    assert native.path() == "native"


# float32 only (float64, half precision under pytest -m slow): the golden suites hold both paths to
# torch's numbers in every dtype; this adds the leaves the kernels find awkward (0-d, odd, empty).
@pytest.mark.parametrize(("name", "config"), OPTION_CASES)
@pytest.mark.parametrize("dtype", [d if d == "float32" else pytest.param(d, marks=pytest.mark.slow) for d in DTYPES])
def test_native_step_equals_xla_step(name, config, dtype):
    """Both paths give the same params and state; bit for bit in half precision, where both round like torch."""
    params, grads = tree(dtype), tree(dtype, seed=1)
    tx = getattr(fo, name)(**config)
    results = {}
    for path in ("native", "xla"):
        with on_path(path):
            step = jax.jit(functools.partial(fo.apply_gradients, tx))
            state = tx.init(params)
            new_params = params
            for _ in range(3):
                new_params, state = step(grads, state, new_params)
            results[path] = jax.tree.map(lambda x: np.asarray(x, np.float64), (new_params, state))
    tolerance = {"float64": 1e-14, "float32": 1e-6}.get(dtype, 0)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance), results["native"], results["xla"]
    )


@pytest.mark.parametrize("name", NATIVE_ALGORITHMS)
def test_one_custom_call_updates_every_leaf_in_place(name):
    """The donated CPU step is one custom call with every param and state aliased: no copy, no temporaries."""
    params = {k: v for k, v in tree("float32").items() if v.size}
    with on_path("native"):
        compiled = donated_step(getattr(fo, name)(), params).lower().compile()
    text = compiled.as_text()
    assert text.count("custom-call(") == 1
    array_copies = [line for line in text.splitlines() if " copy(" in line and not re.search(r"= \w+\[\] copy", line)]
    assert not array_copies
    assert compiled.memory_analysis().temp_size_in_bytes < 1024  # the scalars, not a param-sized buffer


def test_a_large_tree_takes_one_call_per_16_leaves():
    """XLA:CPU's compile time grows faster than linearly in one call's operands: large trees are split."""
    params = [jnp.ones((3,)) for _ in range(2 * native.LEAVES_PER_CALL + 1)]
    with on_path("native"):
        text = donated_step(fo.sgd(0.1, momentum=0.9), params).lower().as_text()
    assert text.count("functional_optim_sgd") == 3


@pytest.mark.parametrize("dtype", ("bfloat16", "float16"))
@pytest.mark.parametrize("name", NATIVE_ALGORITHMS)
def test_donated_half_precision_step_copies_no_state(name, dtype):
    """What XLA:CPU's fusion cannot do for float16 (tests/test_low_precision.py), the kernel does."""
    params = {"w": jnp.ones((1 << 16,), dtype)}
    with on_path("native"):
        compiled = donated_step(getattr(fo, name)(), params).lower().compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 1024


def test_update_takes_the_xla_path():
    """``tx.update``'s params and updates outlive the step: in-place kernels would only add copies to fresh memory."""
    params = tree("float32")
    tx = fo.adam()
    with on_path("native"):
        text = jax.jit(tx.update).lower(params, tx.init(params), params).as_text()
    assert "functional_optim_adam" not in text


@pytest.mark.parametrize(("platform", "custom_calls"), [("cpu", 1), ("cuda", 0), ("tpu", 0)])
def test_only_cpu_programs_contain_the_kernel(platform, custom_calls):
    """The path is chosen inside the program: a step lowered for GPU or TPU is the XLA path's."""
    with on_path("native"):
        lowered = donated_step(fo.adam(), tree("float32")).lower(lowering_platforms=(platform,))
    assert lowered.as_text().count("functional_optim_adam") == custom_calls


def test_chain_applies_its_last_transform_directly():
    """``apply_gradients`` of a chain transforms the grads with all but the last, then steps the last one."""
    params, grads = tree("float32"), tree("float32", seed=1)
    clipped = fo.chain(_scale(0.5), fo.adam(0.1))
    state = clipped.init(params)
    new_params, new_state = jax.jit(functools.partial(fo.apply_gradients, clipped))(grads, state, params)
    updates, expected_state = clipped.update(grads, state, params)
    np.testing.assert_allclose(new_params["w"], fo.apply_updates(params, updates)["w"], rtol=1e-6)
    assert jax.tree.structure(new_state) == jax.tree.structure(expected_state)


def _scale(factor: float) -> fo.GradientTransformation:
    """A transform of the user's: updates = factor * grads, no state."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda u: factor * u, updates), state

    return fo.GradientTransformation(lambda params: (), update)


def test_apply_gradients_of_any_transform_is_update_then_apply():
    """A transform without a direct step (optax's, a user's) goes through its updates."""
    params, grads = tree("float32"), tree("float32", seed=1)
    tx = _scale(-1.0)
    new_params, _ = fo.apply_gradients(tx, grads, tx.init(params), params)
    np.testing.assert_array_equal(new_params["w"], params["w"] - grads["w"])


@pytest.mark.parametrize("path", ["native", "xla"])
def test_apply_gradients_is_exact_where_updates_round(path):
    """A step that shrinks a param by orders of magnitude: ``new - old`` rounds, the direct step does not.

    torch's AdamW with lr=1, weight_decay=1 on [1e20, -3e17] gives [-0.99999999, 0.99999999]·sign.
    """
    params = {"w": jnp.asarray([1e20, -3e17])}
    tx = fo.adamw(lr=1.0, weight_decay=1.0)
    with on_path(path):
        new_params, _ = jax.jit(functools.partial(fo.apply_gradients, tx))({"w": jnp.ones(2)}, tx.init(params), params)
    np.testing.assert_allclose(new_params["w"], [-1.0, -1.0], rtol=1e-7)


@pytest.mark.parametrize("path", ["native", "xla"])
def test_apply_gradients_flips_an_infinite_params_sign_as_torch(path):
    """torch's AdamW with lr=1, weight_decay=2 scales by -1: inf becomes -inf. As an update,
    ``-inf - inf`` added back to ``inf`` is NaN, so only the direct step can say it."""
    params, grads = {"w": jnp.asarray([np.inf, -np.inf, 1.0])}, {"w": jnp.asarray([0.0, 0.0, 1.0])}
    tx = fo.adamw(lr=1.0, weight_decay=2.0)
    with on_path(path):
        new_params, _ = jax.jit(functools.partial(fo.apply_gradients, tx))(grads, tx.init(params), params)
        updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    np.testing.assert_allclose(new_params["w"], [-np.inf, np.inf, -1.99999999], rtol=1e-12)
    assert np.isnan(fo.apply_updates(params, updates)["w"][:2]).all()  # the documented limit of updates


SUBNORMAL = {  # params and grads with subnormal entries, for each dtype whose kernel keeps them
    "float64": ([1e-310, -3e-320, 2.5e-308, 1.0, 0.0], [3e-315, 0.0, -1e-309, 1e-300, 5e-324]),
    "float32": ([1e-40, -3e-44, 1.2e-38, 1.0, 0.0], [3e-42, 0.0, -1e-39, 1e-30, 1e-45]),
}


@pytest.mark.parametrize("dtype", SUBNORMAL)
def test_native_kernels_keep_subnormals(dtype):
    """XLA's CPU code flushes subnormals to zero; the kernels keep them, as torch does."""
    params = {"w": jnp.asarray(SUBNORMAL[dtype][0], dtype)}
    tx = fo.sgd(lr=0.1)
    with on_path("native"):
        new_params, _ = jax.jit(functools.partial(fo.apply_gradients, tx))(
            {"w": jnp.zeros(5, dtype)}, tx.init(params), params
        )
    np.testing.assert_array_equal(new_params["w"], params["w"])  # p - 0.1 * 0 = p


@pytest.mark.parametrize(("name", "config"), OPTION_CASES)
@pytest.mark.parametrize("dtype", SUBNORMAL)
def test_live_native_kernels_step_subnormals_as_torch(name, config, dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[parity]')")
    values, grad_values = (np.asarray(v, dtype) for v in SUBNORMAL[dtype])
    param = torch.tensor(values, requires_grad=True)
    optimizer = getattr(torch.optim, ALGORITHMS_BY_NAME[name].torch_name)([param], foreach=False, **config)
    params, grads = {"w": jnp.asarray(values)}, {"w": jnp.asarray(grad_values)}
    tx = getattr(fo, name)(**config)
    state = tx.init(params)
    step = jax.jit(functools.partial(fo.apply_gradients, tx))
    with on_path("native"):
        for _ in range(3):
            param.grad = torch.tensor(grad_values)
            optimizer.step()
            params, state = step(grads, state, params)
    np.testing.assert_array_equal(params["w"], param.detach().numpy())


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("path", ["native", "xla"])
def test_live_centered_rmsprop_with_alpha_0_fuses_addcmul_as_torch(path, dtype, momentum):
    """With alpha=0 the centred variance is g*g - g*g: torch's addcmul is a fused multiply-add, so
    it is the rounding error of g*g (either sign; NaN after the sqrt where negative). Native: bit
    for bit; XLA path: the same NaNs, and the rest within the table's tolerance."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[parity]')")
    rng = np.random.default_rng(0)
    values = rng.standard_normal(64).astype(dtype)
    grads = [rng.standard_normal(64).astype(dtype) for _ in range(4)]
    config = {"lr": 0.01, "alpha": 0.0, "centered": True, "momentum": momentum, "eps": 1e-3}
    param = torch.tensor(values, requires_grad=True)
    optimizer = torch.optim.RMSprop([param], foreach=False, **config)
    tx = fo.rmsprop(**config)
    params = {"w": jnp.asarray(values)}
    state = tx.init(params)
    step = jax.jit(functools.partial(fo.apply_gradients, tx))
    with on_path(path):
        for grad in grads:
            param.grad = torch.tensor(grad)
            optimizer.step()
            params, state = step({"w": jnp.asarray(grad)}, state, params)
    ours, theirs = np.asarray(params["w"]), param.detach().numpy()
    assert np.isnan(theirs).any() and not np.isnan(theirs).all()  # the case is the one that matters
    if path == "native":
        np.testing.assert_array_equal(ours, theirs)
    else:
        rtol = ALGORITHMS_BY_NAME["rmsprop"].float64_rtol if dtype == "float64" else 1e-5
        np.testing.assert_allclose(ours, theirs, rtol=rtol, equal_nan=True)


def test_a_native_step_can_be_differentiated():
    """The kernel has no derivative; ``jax.grad`` through a step differentiates the XLA path's maths."""
    params, grads = tree("float64"), tree("float64", seed=1)
    tx = fo.adam(0.1, weight_decay=jnp.asarray(0.1))

    def loss(params):
        new_params, _ = fo.apply_gradients(tx, grads, tx.init(params), params)
        return sum(jnp.sum(jnp.sin(p)) for p in jax.tree.leaves(new_params))

    with on_path("native"):
        native_grad = jax.jit(jax.grad(loss))(params)
    with on_path("xla"):
        xla_grad = jax.jit(jax.grad(loss))(params)
    jax.tree.map(np.testing.assert_allclose, native_grad, xla_grad)


def test_a_native_step_can_be_vmapped():
    """An ensemble of optimizers (vmap over a leading axis) steps on the XLA path: no custom call."""
    params = {"w": jnp.ones((4, 3)), "b": jnp.zeros((4,))}
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    tx = fo.sgd(0.1, momentum=0.9)
    with on_path("native"):
        step = jax.jit(jax.vmap(functools.partial(fo.apply_gradients, tx)))
        state = jax.vmap(tx.init)(params)
        assert "custom_call" not in step.lower(grads, state, params).as_text()
        new_params, _ = step(grads, state, params)
    np.testing.assert_allclose(new_params["w"], np.full((4, 3), 0.95))


def native_steps(dtype: str) -> list[np.ndarray]:
    """Three native steps of every option case in ``dtype``: each case's params and state, flattened."""
    params, grads = tree(dtype), {**tree(dtype, seed=1), "long": jnp.linspace(-3, 3, 1001, dtype=dtype)}
    params["long"] = jnp.linspace(2, -1, 1001, dtype=dtype)
    results = []
    for name, config in OPTION_CASES:
        tx = getattr(fo, name)(**config)
        with on_path("native"):
            step = jax.jit(functools.partial(fo.apply_gradients, tx))
            state, new_params = tx.init(params), params
            for _ in range(3):
                new_params, state = step(grads, state, new_params)
        results.extend(np.asarray(leaf) for leaf in jax.tree.leaves((new_params, state)))
    return results


@pytest.mark.slow  # a subprocess per dtype running every option case
@pytest.mark.parametrize("dtype", DTYPES)
def test_avx2_and_avx512_loops_agree_bit_for_bit(dtype, tmp_path):
    """The AVX2 loops (FUNCTIONAL_OPTIM_AVX512=0, in a fresh process) give the AVX-512 loops' results exactly."""
    if native.instruction_set() != "avx512":
        pytest.skip(f"this CPU runs the {native.instruction_set()} loops only: there is no second set to compare")
    script = (
        f"import sys, jax, numpy as np; jax.config.update('jax_enable_x64', {jax.config.jax_enable_x64}); "
        "from functional_optim import native; from tests.test_native import native_steps; "
        "assert native.instruction_set() == 'avx2', native.instruction_set(); "
        f"np.savez(sys.argv[1], *native_steps({dtype!r}))"
    )
    output = tmp_path / "avx2.npz"
    environment = {**os.environ, "FUNCTIONAL_OPTIM_AVX512": "0"}
    root = pathlib.Path(__file__).parents[1]
    subprocess.run([sys.executable, "-c", script, str(output)], check=True, cwd=root, env=environment)
    with np.load(output) as avx2:
        expected = [avx2[f"arr_{i}"] for i in range(len(avx2.files))]
    actual = native_steps(dtype)
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected):
        np.testing.assert_array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8))


def test_path_reports_the_choice_and_each_transform():
    with on_path("native"):
        assert (native.path(), native.path(fo.adam()), native.path(fo.adafactor())) == ("native", "native", "xla")
    with fo.native.use("xla"):
        assert native.path(fo.adam()) == "xla"
    assert native.kernel(fo.adamw()) == "adam"
    assert native.kernel(fo.adafactor()) is None


def test_an_unknown_path_is_refused():
    with pytest.raises(ValueError, match="must be one of"):
        native.set_path("fast")


def test_without_kernels_auto_takes_the_xla_path_and_says_so_once(monkeypatch):
    monkeypatch.setattr(native, "_library", None)
    monkeypatch.setitem(native._state, "warned", False)
    params, grads = tree("float32"), tree("float32", seed=1)
    tx = fo.adam(0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fo.native.use("auto"):
            assert native.path() == "xla"
            for _ in range(2):
                text = jax.jit(functools.partial(fo.apply_gradients, tx)).lower(grads, tx.init(params), params)
                assert "custom_call" not in text.as_text()
    assert [w.category for w in caught] == [native.NativeKernelsUnavailableWarning]
    with pytest.raises(RuntimeError, match="not built"):
        native.set_path("native")


def test_the_kernel_checks_its_operands_before_writing():
    """A malformed call (here a grad of another dtype) is an error from the kernel, not a corrupted buffer."""
    if not native.available():
        pytest.skip("the native kernels were not built (no C++ compiler at install time)")
    param = jnp.ones(8, jnp.float32)
    call = jax.ffi.ffi_call(
        "functional_optim_sgd", [jax.ShapeDtypeStruct((8,), jnp.float32)], input_output_aliases={1: 0}
    )
    scalars = jnp.zeros((1, 5), jnp.float32)
    attributes = {k: np.int64(0) for k in ("maximize", "weight_decay", "momentum", "nesterov", "num_states")}
    with pytest.raises(Exception, match="differs from its param"):
        jax.block_until_ready(call(scalars, param, jnp.ones(8, jnp.float64), **attributes))
    with pytest.raises(Exception, match="state count"):
        jax.block_until_ready(call(scalars, param, jnp.ones(8, jnp.float32), **{**attributes, "momentum": np.int64(1)}))

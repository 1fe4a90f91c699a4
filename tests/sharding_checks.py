"""Sharded checks for tests/test_sharding.py, run in fresh processes with simulated CPU devices.

The pytest process has already started JAX with one CPU device, and a JAX process cannot change
its device count afterwards, so these checks run here, in a subprocess, and report JSON::

    python -m tests.sharding_checks checks OUT.json [--algorithms adam,sgd] [--cases 1d-explicit,zero1]
    python -m tests.sharding_checks worker OUT.npz --process-id 0 --port 12345   # the two-process test

``checks`` (8 CPU devices, float64) runs every algorithm of tests/algorithm_table.py for
:data:`STEPS` steps on each case of :data:`CASES`:

* ``1d-explicit``, ``2d-auto``: the params sharded over a mesh along different axes, some
  replicated. ``init`` must give every per-parameter state leaf its parameter's sharding, the
  jitted update + apply must keep every sharding, and, for an elementwise algorithm, its
  compiled HLO must hold no collective.
* ``zero1`` (1-D mesh, Auto axes, the algorithms of :data:`ZERO1_ALGORITHMS`) and
  ``zero1-2d-explicit`` (Adam, params sharded on ``model``, state partitioned on ``data`` as
  well): :func:`functional_optim.zero1`'s per-device state memory is
  1/N of the plain state's (from the arrays' addressable shards), the params keep their
  sharding and the update all-gathers.

Every trajectory must equal the single-device one. All runs see the same gradients: those of
:func:`mlp_loss` at the current params, computed on one device and placed like the params, so
the update is all that differs. L-BFGS, which evaluates its objective itself, minimises
:func:`separable_loss` instead. XLA's CPU compiler dominates the run time; the programs are
compiled two at a time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import re
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from tests.algorithm_table import ALGORITHMS, ALGORITHMS_BY_NAME

ROOT = pathlib.Path(__file__).resolve().parent.parent
# XLA's CPU compiler dominates these tests. Its backend optimisations buy nothing on programs this
# small, and the legacy fusion code generator compiles ~3x faster than the fusion emitters.
XLA_FLAGS = " ".join(
    (
        "--xla_backend_optimization_level=0",
        "--xla_llvm_disable_expensive_passes=true",
        "--xla_cpu_use_fusion_emitters=false",
    )
)


def subprocess_env() -> dict[str, str]:
    """The environment a check runs in as a subprocess: CPU, this checkout importable, XLA_FLAGS above."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    inherited = [f for f in env.get("XLA_FLAGS", "").split() if "force_host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join([*inherited, XLA_FLAGS])
    return env


STEPS = 4
COLLECTIVE = re.compile(r"\b(all-reduce|all-gather|reduce-scatter|collective-permute|all-to-all)(-start)?\(")

# Algorithms whose maths needs whole tensors, so XLA must add collectives to a sharded update.
NOT_ELEMENTWISE = {
    **{info.name: info.reduction for info in ALGORITHMS if info.reduction},
    "lbfgs": "dot products and max-norms over all the params",
}
# Relative and absolute. The sharded and single-device runs do the same float64 maths; measured
# here (jax 0.10.2, 4 steps): every elementwise algorithm, Muon (bf16 Newton-Schulz included),
# SparseAdam bit-identical, Adafactor and L-BFGS 2.2e-16 away (their norms and dot products are
# summed shard by shard). 1e-14 leaves room for one-ulp differences of vectorised transcendental functions.
TOLERANCE = {"elementwise": 1e-14, "reduction": 1e-10}
TWO_D_ONLY = {"muon", "sparse_adam"}  # Muon only takes matrices; SparseAdam gets rows of tables
EXTRA_ALGORITHMS = ("lbfgs",)  # checked even while it has no row in the table (its own API)
SPARSE_ROWS = (1, 5, 5, 6)  # the rows SparseAdam's gradients name (5 twice: coalesce sums them)
SHAPES = {"w1": (16, 32), "b1": (32,), "w2": (32, 8), "b2": (8,), "s": ()}


class Case(NamedTuple):
    label: str
    mesh_shape: tuple[int, ...]
    axes: tuple[str, ...]
    explicit: bool  # Explicit mesh axes (jax.make_mesh's default) or Auto ones
    specs: dict[str, tuple]  # leaf: PartitionSpec entries; absent leaves are replicated
    zero1: bool = False


CASES = (
    Case("1d-explicit", (8,), ("data",), True, {"w1": ("data", None), "b1": ("data",), "w2": (None, "data")}),
    Case(
        "2d-auto",
        (4, 2),
        ("data", "model"),
        False,
        {"w1": ("data", "model"), "b1": ("model",), "w2": ("model", "data"), "b2": ("data",)},
    ),
    Case("zero1", (8,), ("data",), False, {}, zero1=True),
    Case(
        "zero1-2d-explicit",
        (4, 2),
        ("data", "model"),
        True,
        {"w1": (None, "model"), "b1": ("model",), "w2": ("model", None)},
        zero1=True,
    ),
)
# zero1 is generic over the state's layout: it is checked on elementwise algorithms with different
# state (two moments; step sizes filled with lr; scalar eta and mu) and on every other layout
# (factored statistics, matrix maths, BCOO gradients); L-BFGS is not a GradientTransformation.
ZERO1_ALGORITHMS = ("adam", "rprop", "asgd", *(name for name in NOT_ELEMENTWISE if name != "lbfgs"))
ZERO1_2D_ALGORITHMS = ("adam",)


# ----------------------------------------------------------------------------------------------
# The problem, shared with tests/test_sharding.py (which computes the two-process reference)
# ----------------------------------------------------------------------------------------------
def algorithm_names() -> list[str]:
    names = [info.name for info in ALGORITHMS]
    return names + [name for name in EXTRA_ALGORITHMS if name not in names]


def case_names(case: Case, names: list[str]) -> list[str]:
    """The algorithms ``case`` checks, of ``names``."""
    if case.label == "zero1-2d-explicit":
        return [name for name in names if name in ZERO1_2D_ALGORITHMS]
    if case.zero1:
        return [name for name in names if name in ZERO1_ALGORITHMS]
    return names


def default_config(name: str) -> dict:
    info = ALGORITHMS_BY_NAME.get(name)
    return info.configs[0] if info is not None and info.configs else {}


def make_transform(name: str) -> Any:
    import functional_optim as fo
    from tests.runner import jax_kwargs

    return getattr(fo, name)(**jax_kwargs(default_config(name)))


def host_params(name: str, seed: int = 1) -> dict[str, np.ndarray]:
    info = ALGORITHMS_BY_NAME.get(name)
    two_d_only = name in TWO_D_ONLY or (info is not None and info.problem == "matrices")
    rng = np.random.default_rng(seed)
    values = {k: rng.normal(size=shape) * 0.5 for k, shape in SHAPES.items()}
    return {k: v for k, v in values.items() if len(v.shape) == 2 or not two_d_only}


def mlp_data(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(64, 16)), rng.normal(size=(64, 8))


def mlp_loss(params: dict, x: Any, y: Any) -> Any:
    """A scaled two-layer tanh MLP's mean squared error (biases and scale optional, for matrix-only algorithms)."""
    import jax.numpy as jnp

    hidden = jnp.tanh(x @ params["w1"] + params.get("b1", 0.0))
    return jnp.mean((params.get("s", 1.0) * (hidden @ params["w2"] + params.get("b2", 0.0)) - y) ** 2)


def separable_loss(params: dict) -> Any:
    """``sum(p^2/2 + 0.3 cos 3p)``: L-BFGS's objective, nonconvex, with an elementwise gradient."""
    import jax.numpy as jnp

    return sum(jnp.sum(0.5 * p * p + 0.3 * jnp.cos(3 * p)) for p in params.values())


def make_update(name: str, tx: Any) -> Callable:
    """``update(params, state, grads) -> (params, state)``: one update + apply of algorithm ``name``."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse
    from jax.sharding import PartitionSpec as P

    import functional_optim as fo

    if name == "lbfgs":

        def lbfgs_update(params, state, grads):
            del grads
            params, state, _ = tx.step(separable_loss, state, params)
            return params, state

        return lbfgs_update

    def rows_of(grad: jax.Array) -> sparse.BCOO:
        ids = jnp.asarray(SPARSE_ROWS, jnp.int32)
        explicit = any(entry is not None for entry in jax.typeof(grad).sharding.spec)
        rows = grad.at[ids].get(out_sharding=P() if explicit else None)  # Explicit axes: JAX asks where rows go
        return sparse.BCOO((rows, ids[:, None]), shape=grad.shape)

    def update(params, state, grads):
        if name == "sparse_adam":
            grads = jax.tree.map(rows_of, grads)
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state

    return update


# ----------------------------------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------------------------------
class Run(NamedTuple):
    case: Case | None  # None: the single-device reference
    name: str
    update: Callable
    params: Any
    state: Any
    mesh: Any = None
    lowered: Any = None
    compiled: Any = None


class Checks:
    """Builds, compiles and runs the cases; collects failures per (case, algorithm)."""

    def __init__(self) -> None:
        import jax

        self.results: dict[str, dict[str, dict]] = {}
        self.timings: dict[str, list[float]] = {}
        x, y = (np.asarray(a) for a in mlp_data())
        grad = jax.jit(jax.grad(mlp_loss))
        self.grads = lambda params: grad(params, x, y)  # on one device, from host values

    def entry(self, case: Case, name: str) -> dict:
        return self.results.setdefault(case.label, {}).setdefault(name, {"skip": None, "failures": []})

    def fail(self, case: Case | None, name: str, message: str) -> None:
        for target in [case] if case is not None else self.cases_of[name]:
            self.entry(target, name)["failures"].append(f"{name} on {target.label}: {message}")

    def place_grads(self, params: Any) -> Any:
        import jax

        grads = self.grads(jax.tree.map(np.asarray, params))  # from host values: device_put copies, no reshard program
        return jax.tree.map(lambda g, p: jax.device_put(np.asarray(g), p.sharding), grads, params)

    def build(self, case: Case, name: str) -> Run:
        import jax
        from jax.sharding import AxisType, NamedSharding
        from jax.sharding import PartitionSpec as P

        import functional_optim as fo

        axis_type = AxisType.Explicit if case.explicit else AxisType.Auto
        mesh = jax.make_mesh(case.mesh_shape, case.axes, axis_types=(axis_type,) * len(case.axes))
        params = {
            k: jax.device_put(v, NamedSharding(mesh, P(*case.specs.get(k, ())))) for k, v in host_params(name).items()
        }
        tx = plain = make_transform(name)
        if case.zero1:
            tx = fo.zero1(plain, mesh, axis="data")
        with jax.set_mesh(mesh):
            state = tx.init(params)
            if case.zero1:
                self.check_memory(case, name, params, plain.init(params), state, mesh.shape["data"])
        if not case.zero1:
            for message in per_param_mismatches(state, params):
                self.fail(case, name, message)
        return Run(case, name, make_update(name, tx), params, state, mesh)

    def check_memory(self, case: Case, name: str, params: dict, plain: Any, state: Any, ways: int) -> None:
        """Per-device bytes of the per-parameter state leaves: ZeRO-1's must be 1/ways of the plain state's."""
        from functional_optim.sharding import bytes_per_device

        arrays = {k: p for k, p in params.items() if p.ndim > 0}  # a 0-d leaf cannot be split
        plain_bytes = bytes_per_device(per_param_leaves(plain, arrays))
        zero_bytes = bytes_per_device(per_param_leaves(state, arrays))
        self.entry(case, name)["bytes_per_device"] = {
            "per_param_plain": max(plain_bytes.values(), default=0),
            "per_param_zero1": max(zero_bytes.values(), default=0),
            "all_plain": max(bytes_per_device(plain).values(), default=0),
            "all_zero1": max(bytes_per_device(state).values(), default=0),
        }
        for device, full in plain_bytes.items():
            if zero_bytes.get(device, 0) * ways != full:
                self.fail(
                    case, name, f"{device} holds {zero_bytes.get(device, 0)} state bytes with zero1, {full} without"
                )
                return

    def lower(self, run: Run) -> Run | None:
        import contextlib

        import jax

        grads = None if run.name == "lbfgs" else self.place_grads(run.params)
        try:
            with jax.set_mesh(run.mesh) if run.mesh is not None else contextlib.nullcontext():
                return run._replace(lowered=jax.jit(run.update).lower(run.params, run.state, grads))
        except Exception as error:
            self.fail(run.case, run.name, f"tracing the jitted update failed: {short(error)}")
            return None

    def trajectory(self, run: Run) -> list[dict]:
        """The params after 0..STEPS steps, as host arrays; checks the shardings on the way."""
        import contextlib

        import jax

        history = [jax.tree.map(np.asarray, run.params)]
        params, state, reported = run.params, run.state, run.case is None
        with jax.set_mesh(run.mesh) if run.mesh is not None else contextlib.nullcontext():
            for _ in range(STEPS):
                grads = None if run.name == "lbfgs" else self.place_grads(params)
                params, state = run.compiled(params, state, grads)
                history.append(jax.tree.map(np.asarray, params))
                if run.case is None:
                    continue
                drifts = drifted_shardings(run.params, params, "params") + drifted_shardings(run.state, state, "state")
                if drifts:  # reported once; the run goes on from the same values, placed as before the step
                    if not reported:
                        self.fail(run.case, run.name, "; ".join(drifts))
                        reported = True
                    params, state = replace_on(run.params, params), replace_on(run.state, state)
        return history


def per_param_leaves(state: Any, params: dict) -> list:
    """The state leaves shaped like a param whose tree path ends with the param's key."""
    import jax

    return [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(state)
        if any(
            jax.tree_util.keystr(path).endswith(f"['{k}']") and np.shape(leaf) == np.shape(p) for k, p in params.items()
        )
    ]


def per_param_mismatches(state: Any, params: dict) -> list[str]:
    """Per-parameter state leaves that init did not give their parameter's sharding."""
    import jax

    found = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        at = jax.tree_util.keystr(path)
        for key, param in params.items():
            like_param = at.endswith(f"['{key}']") and np.shape(leaf) == np.shape(param)
            if like_param and not same_sharding(getattr(leaf, "sharding", None), param.sharding, np.ndim(param)):
                found.append(f"init put state{at} on {getattr(leaf, 'sharding', None)}, not {param.sharding}")
    return found


def replace_on(before: Any, after: Any) -> Any:
    """``after``'s values with ``before``'s shardings (through the host: no resharding program)."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding

    def place(old: jax.Array, new: jax.Array) -> jax.Array:
        if isinstance(old.sharding, NamedSharding):
            return jax.device_put(np.asarray(new), old.sharding)
        return jnp.asarray(np.asarray(new))  # uncommitted, as init left it

    return jax.tree.map(place, before, after)


def same_sharding(a: Any, b: Any, ndim: int) -> bool:
    return a is not None and b is not None and a.is_equivalent_to(b, ndim)


def drifted_shardings(before: Any, after: Any, what: str) -> list[str]:
    """Leaves whose sharding after the steps differs from before them (or that init left unplaced)."""
    import jax
    from jax.sharding import NamedSharding

    found = []
    for (path, old), new in zip(jax.tree_util.tree_leaves_with_path(before), jax.tree.leaves(after)):
        at, old_sharding, new_sharding = jax.tree_util.keystr(path), old.sharding, new.sharding
        if isinstance(old_sharding, NamedSharding):
            if not same_sharding(new_sharding, old_sharding, np.ndim(old)):
                found.append(f"{what}{at} went from {old_sharding.spec} to {new_sharding.spec} in the jitted steps")
        elif np.ndim(new) > 0 and not new_sharding.is_fully_replicated:
            found.append(f"init left {what}{at} on one device; the jitted step made it {new_sharding.spec}")
    return found


def collectives(hlo: str) -> list[str]:
    return [line.strip()[:160] for line in hlo.splitlines() if COLLECTIVE.search(line)]


def tolerance(name: str) -> float:
    return TOLERANCE["reduction" if name in NOT_ELEMENTWISE else "elementwise"]


def short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".split("\n--------------------")[0]
    return text if len(text) < 700 else text[:700] + " ..."


def compare(ours: list[dict], reference: list[dict], rtol: float) -> str | None:
    for step, (got, want) in enumerate(zip(ours, reference)):
        for leaf in want:
            if not np.allclose(got[leaf], want[leaf], rtol=rtol, atol=rtol):
                worst = float(np.max(np.abs(got[leaf] - want[leaf])))
                return f"after {step} steps {leaf!r} is {worst:.3g} away from the single-device run (tolerance {rtol})"
    return None


def run_checks(out: str, names: list[str], labels: list[str]) -> None:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_num_cpu_devices", 8)
    jax.config.update("jax_enable_x64", True)
    clock = [time.perf_counter(), time.process_time()]
    checks = Checks()

    def lap(label: str) -> None:
        now = [time.perf_counter(), time.process_time()]
        checks.timings[label] = [round(b - a, 2) for a, b in zip(clock, now)]
        clock[:] = now

    try:
        runs, references = [], {}
        for case in (case for case in CASES if case.label in labels):
            for name in case_names(case, names):
                checks.entry(case, name)
                try:
                    run = checks.build(case, name)
                except NotImplementedError:
                    checks.entry(case, name)["skip"] = f"{name} is not implemented yet"
                    continue
                except Exception as error:
                    checks.fail(case, name, f"init failed: {short(error)}")
                    continue
                if (run := checks.lower(run)) is not None:
                    runs.append(run)
                    if name not in references:
                        params = {k: jnp.asarray(v) for k, v in host_params(name).items()}
                        tx = make_transform(name)
                        references[name] = Run(None, name, make_update(name, tx), params, tx.init(params))
        checks.cases_of = {name: [run.case for run in runs if run.name == name] for name in references}
        references = {name: lowered for name, run in references.items() if (lowered := checks.lower(run)) is not None}
        lap("init and trace")

        def compile_one(run: Run) -> Run | None:
            try:
                return run._replace(compiled=run.lowered.compile())
            except Exception as error:
                checks.fail(run.case, run.name, f"compiling failed: {short(error)}")
                return None

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            runs = [run for run in pool.map(compile_one, runs) if run is not None]
            references = {k: run for k, run in zip(references, pool.map(compile_one, references.values())) if run}
        lap("compile")

        for run in runs:
            hlo = run.compiled.as_text()
            found = collectives(hlo)
            gathers = [line for line in found if "all-gather" in line or run.name in NOT_ELEMENTWISE]
            if run.case.zero1 and not gathers:
                checks.fail(
                    run.case, run.name, "the compiled ZeRO-1 update gathers nothing: the state is not partitioned"
                )
            if not run.case.zero1 and run.name not in NOT_ELEMENTWISE and found:
                checks.fail(
                    run.case, run.name, f"collectives in the compiled update of an elementwise algorithm: {found[:3]}"
                )
        expected = {}
        for name, run in references.items():
            try:
                expected[name] = checks.trajectory(run)
            except Exception as error:
                checks.fail(None, name, f"the single-device run failed: {short(error)}")
        for run in runs:
            try:
                history = checks.trajectory(run)
            except Exception as error:
                checks.fail(run.case, run.name, f"running the jitted update failed: {short(error)}")
                continue
            if run.name in expected and (message := compare(history, expected[run.name], tolerance(run.name))):
                checks.fail(run.case, run.name, message)
        lap("run and compare")
    finally:
        with open(out, "w") as f:
            json.dump({"results": checks.results, "timings": checks.timings}, f, indent=1, default=str)


# ----------------------------------------------------------------------------------------------
# One process of the two-process test
# ----------------------------------------------------------------------------------------------
MULTIPROCESS_STEPS = 5


def multiprocess_transform(mesh: Any = None) -> Any:
    """The two-process test's optimizer; with a mesh, its state is partitioned (ZeRO-1) across both processes."""
    import functional_optim as fo

    tx = fo.adamw(lr=1e-2, weight_decay=0.1)
    return tx if mesh is None else fo.zero1(tx, mesh, axis="data")


def run_worker(out: str, process_id: int, num_processes: int, port: int) -> None:
    import jax

    jax.config.update("jax_num_cpu_devices", 4)
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
    )
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import functional_optim as fo
    from functional_optim.sharding import bytes_per_device

    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    replicated, batch = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

    def global_array(value: np.ndarray, sharding: NamedSharding) -> jax.Array:
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    data = tuple(global_array(a, batch) for a in mlp_data())
    params = {k: global_array(v, replicated) for k, v in host_params("adamw").items()}
    tx = multiprocess_transform(mesh)

    @jax.jit
    def train_step(params, state, x, y):
        grads = jax.grad(mlp_loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state

    with jax.set_mesh(mesh):
        state = tx.init(params)
        for _ in range(MULTIPROCESS_STEPS):
            params, state = train_step(params, state, *data)
    local_state = bytes_per_device([leaf for leaf in jax.tree.leaves(state) if leaf.ndim > 0])
    np.savez(
        out,
        devices=np.asarray([jax.device_count(), jax.local_device_count()]),
        state_bytes=np.asarray(sorted(local_state.values())),
        **{k: np.asarray(v) for k, v in params.items()},
    )
    jax.distributed.shutdown()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    checks = commands.add_parser("checks")
    checks.add_argument("out")
    checks.add_argument("--algorithms", default=None, help="comma-separated names (default: all)")
    checks.add_argument("--cases", default=None, help="comma-separated case labels (default: all)")
    worker = commands.add_parser("worker")
    worker.add_argument("out")
    worker.add_argument("--process-id", type=int, required=True)
    worker.add_argument("--num-processes", type=int, default=2)
    worker.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "checks":
        names = algorithm_names() if args.algorithms is None else args.algorithms.split(",")
        labels = [case.label for case in CASES] if args.cases is None else args.cases.split(",")
        run_checks(args.out, names, labels)
    else:
        run_worker(args.out, args.process_id, args.num_processes, args.port)


if __name__ == "__main__":
    main(sys.argv[1:])

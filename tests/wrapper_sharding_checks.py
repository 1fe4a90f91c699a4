"""Sharded checks of the torch-style wrapper, for tests/test_wrapper_sharding.py (8 CPU devices, float64).

    python -m tests.wrapper_sharding_checks OUT.json

Run in a fresh process for the reason tests/sharding_checks.py gives, on its cases and problem.
For every wrapped algorithm and case, an optimizer over Parameters placed on the mesh takes
:data:`STEPS` steps, and the report lists what went wrong:

* every Parameter keeps its sharding through ``step()``, and its per-parameter state has the
  Parameter's sharding (or, under ``optim.zero1``, the partitioned one) and keeps it;
* params and state equal a single-device run's;
* ``state_dict()`` hands out the live device arrays (no gather); its ``jax.device_get`` loads
  into a fresh optimizer (before its first step) and into the running one, onto the shardings
  the state has there, and the next step matches;
* under ``optim.zero1`` each device holds 1/N of the per-parameter state the plain optimizer
  holds on it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from typing import Any

import numpy as np

from tests import sharding_checks as checks

STEPS = checks.STEPS
_OWN_API = {"LBFGS"}  # evaluates a closure; its sharding is checked functionally in tests/test_sharding.py


def wrapped_algorithms() -> list[Any]:
    import functional_optim as fo
    from tests.algorithm_table import ALGORITHMS

    return [info for info in ALGORITHMS if hasattr(fo.optim, info.torch_name) and info.torch_name not in _OWN_API]


def cases_of(info: Any) -> list[checks.Case]:
    return [case for case in checks.CASES if info.name in checks.case_names(case, [info.name])]


class Setup:
    """One algorithm on one case: builds optimizers over placed Parameters and feeds them grads."""

    def __init__(self, info: Any, case: checks.Case):
        import jax
        from jax.sharding import AxisType

        from tests.runner import jax_kwargs

        self.info, self.case = info, case
        axis_type = AxisType.Explicit if case.explicit else AxisType.Auto
        self.mesh = jax.make_mesh(case.mesh_shape, case.axes, axis_types=(axis_type,) * len(case.axes))
        self.kwargs = jax_kwargs(checks.default_config(info.name))
        self.host = checks.host_params(info.name)
        x, y = (np.asarray(a) for a in checks.mlp_data())
        self.grad = jax.jit(jax.grad(checks.mlp_loss))
        self.data = (x, y)

    def parameters(self, values: dict[str, np.ndarray], placed: bool) -> dict[str, Any]:
        import jax
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P

        import functional_optim as fo

        def place(k: str, v: np.ndarray) -> Any:
            return jax.device_put(v, NamedSharding(self.mesh, P(*self.case.specs.get(k, ())))) if placed else v

        return {k: fo.Parameter(place(k, v)) for k, v in values.items()}

    def optimizer(self, params: dict[str, Any], zero1: bool) -> Any:
        import functional_optim as fo

        optimizer = getattr(fo.optim, self.info.torch_name)(list(params.values()), **self.kwargs)
        return fo.optim.zero1(optimizer, self.mesh, axis="data") if zero1 else optimizer

    def step(self, params: dict[str, Any], optimizer: Any, on_mesh: bool = True) -> None:
        """Sets every grad (the MLP's, at the current values, placed like its Parameter) and steps."""
        import jax
        import jax.numpy as jnp
        from jax.experimental import sparse

        values = {k: np.asarray(p.data) for k, p in params.items()}
        for k, g in self.grad(values, *self.data).items():
            g = np.asarray(g)
            if self.info.name == "sparse_adam":
                rows = np.asarray(checks.SPARSE_ROWS)
                params[k].grad = sparse.BCOO((jnp.asarray(g[rows]), jnp.asarray(rows[:, None])), shape=g.shape)
            else:
                params[k].grad = jax.device_put(g, params[k].data.sharding)
        with jax.set_mesh(self.mesh) if on_mesh and self.case.explicit else contextlib.nullcontext():
            optimizer.step()


def arrays(params: dict[str, Any], optimizer: Any) -> dict[str, Any]:
    """``{"w1/param": array, "w1/exp_avg": array, ...}``: the params and every array of their state."""
    out = {f"{k}/param": p.data for k, p in params.items()}
    for k, p in params.items():
        out.update({f"{k}/{name}": v for name, v in optimizer.state.get(p, {}).items() if hasattr(v, "sharding")})
    return out


def moved(now: dict[str, Any], then: dict[str, Any]) -> list[str]:
    """The arrays of ``now`` whose sharding is not that of the array of the same name in ``then``."""
    return [k for k, v in now.items() if not checks.same_sharding(v.sharding, then[k].sharding, v.ndim)]


def check(info: Any, case: checks.Case) -> dict:
    """The failures of ``info``'s optimizer on ``case`` (and its ZeRO-1 memory figures)."""
    import jax

    from functional_optim.sharding import bytes_per_device, zero1_sharding

    setup, failures, report = Setup(info, case), [], {}
    rtol = checks.tolerance(info.name)

    # The single-device reference and the sharded run.
    ref_params = setup.parameters(setup.host, placed=False)
    ref = setup.optimizer(ref_params, zero1=False)
    params = setup.parameters(setup.host, placed=True)
    optimizer = setup.optimizer(params, zero1=case.zero1)
    placed = arrays(params, optimizer)  # the params' shardings; their state's are added at creation
    for step in range(STEPS):
        setup.step(ref_params, ref, on_mesh=False)
        setup.step(params, optimizer)
        now = arrays(params, optimizer)
        if step == 0:
            for k, p in params.items():
                want = zero1_sharding(p.data, setup.mesh) if case.zero1 else p.data.sharding
                for name, v in optimizer.state[p].items():
                    if (
                        hasattr(v, "sharding")
                        and v.shape == p.shape
                        and not checks.same_sharding(v.sharding, want, v.ndim)
                    ):
                        failures.append(f"state {k}/{name} created on {v.sharding}, not {want}")
            placed = {k: placed.get(k, v) for k, v in now.items()}
        if moved(now, placed):
            failures.append(f"step {step} changed the sharding of {moved(now, placed)}")
            break

    def compare(what: str, got: dict, want: dict) -> None:
        for k, w in want.items():
            g = got.get(k)
            if g is None or not np.allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=rtol):
                failures.append(f"{what}: {k} differs from the single-device run")

    compare(f"after {STEPS} steps", arrays(params, optimizer), arrays(ref_params, ref))

    if case.zero1:
        plain_params = setup.parameters(setup.host, placed=True)
        plain = setup.optimizer(plain_params, zero1=False)
        setup.step(plain_params, plain)

        def per_param(ps: dict, opt: Any) -> list:
            return [v for p in ps.values() if p.shape for v in opt.state[p].values() if np.shape(v) == p.shape]

        plain_bytes = bytes_per_device(per_param(plain_params, plain))
        zero_bytes = bytes_per_device(per_param(params, optimizer))
        report["bytes_per_device"] = {"plain": max(plain_bytes.values()), "zero1": max(zero_bytes.values())}
        ways = setup.mesh.shape["data"]
        if any(zero_bytes.get(d, 0) * ways != n for d, n in plain_bytes.items()):
            failures.append(f"per-device state bytes: {zero_bytes} with zero1, {plain_bytes} without")

    # state_dict: live arrays; loaded onto the current shardings, fresh optimizer and running one.
    saved = optimizer.state_dict()
    gathered = [k for fields in saved["state"].values() for k, v in fields.items() if isinstance(v, np.ndarray)]
    if gathered:
        failures.append(f"state_dict() gathered {gathered} to the host")
    host = jax.device_get(saved)
    before = arrays(params, optimizer)
    fresh_params = setup.parameters({k: np.asarray(p.data) for k, p in params.items()}, placed=True)
    fresh = setup.optimizer(fresh_params, zero1=case.zero1)
    fresh.load_state_dict(host)
    optimizer.load_state_dict(host)
    if moved(arrays(params, optimizer), before):
        failures.append(f"load_state_dict put {moved(arrays(params, optimizer), before)} elsewhere")
    for k, p in fresh_params.items():  # no state to replace: loaded where a first step would create it
        want = zero1_sharding(p.data, setup.mesh) if case.zero1 else p.data.sharding
        for name, v in fresh.state[p].items():
            if np.shape(v) == p.shape and not checks.same_sharding(v.sharding, want, v.ndim):
                failures.append(f"load_state_dict into a fresh optimizer put {k}/{name} on {v.sharding}, not {want}")
    setup.step(ref_params, ref, on_mesh=False)
    setup.step(params, optimizer)
    setup.step(fresh_params, fresh)
    differ = moved(arrays(fresh_params, fresh), arrays(params, optimizer))
    if differ:
        failures.append(f"after the next step, {differ} of the fresh optimizer are placed unlike the running one's")
    compare("a step after load_state_dict (running)", arrays(params, optimizer), arrays(ref_params, ref))
    compare("a step after load_state_dict (fresh)", arrays(fresh_params, fresh), arrays(ref_params, ref))
    return {"failures": failures, **report}


def main(out: str) -> None:
    import jax

    jax.config.update("jax_num_cpu_devices", 8)
    jax.config.update("jax_enable_x64", True)
    results: dict[str, dict[str, dict]] = {}
    for info in wrapped_algorithms():
        for case in cases_of(info):
            try:
                result = check(info, case)
            except Exception as error:  # reported per case: one broken algorithm must not hide the others
                result = {"failures": [f"{checks.short(error)}\n{traceback.format_exc()[-1500:]}"]}
            results.setdefault(case.label, {})[info.torch_name] = result
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])

"""Full-batch curve fitting with L-BFGS and the strong-Wolfe line search, functional and wrapper.

    python examples/lbfgs_fit.py          # 4 L-BFGS steps of up to 20 iterations each
    python examples/lbfgs_fit.py --quick  # 2 steps (CI)

The model is a damped oscillation with five parameters,

    y(t) = amplitude * exp(-decay * t) * sin(omega * t + phase) + offset,

fitted by least squares to 200 samples with noise of standard deviation 0.05 (so the best
loss is about 0.05 ** 2), in float64. This is L-BFGS's home ground: a
smooth, deterministic, full-batch objective, where each step runs up to ``max_iter`` quasi-Newton
iterations and its line search evaluates the loss as often as it needs.

* Functional: ``fo.lbfgs(...)`` returns ``(init, step)``; ``step(loss_fn, state, params, *data)``
  differentiates ``loss_fn`` itself (it plays the part of torch's closure), is pure, and
  compiles once with ``jax.jit(tx.step, static_argnums=0)``.
* Wrapper: ``fo.optim.LBFGS`` with torch's closure idiom, line for line.
* With torch installed, the same fit with ``torch.optim.LBFGS``, to compare the numbers.
"""

from __future__ import annotations

import argparse

import jax

jax.config.update("jax_enable_x64", True)  # a least-squares fit wants float64, like torch's .double()

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import functional_optim as fo  # noqa: E402

TRUE = {"amplitude": 2.0, "decay": 0.3, "omega": 2.0, "phase": 0.5, "offset": 0.2}
GUESS = {"amplitude": 1.0, "decay": 0.1, "omega": 1.8, "phase": 0.0, "offset": 0.0}
LBFGS_ARGS = {"lr": 1, "max_iter": 20, "history_size": 10, "line_search_fn": "strong_wolfe"}


def curve(p: dict[str, jax.Array], t: jax.Array) -> jax.Array:
    return p["amplitude"] * jnp.exp(-p["decay"] * t) * jnp.sin(p["omega"] * t + p["phase"]) + p["offset"]


def loss_fn(p: dict[str, jax.Array], t: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error of the curve: the full-batch objective."""
    return jnp.mean((curve(p, t) - y) ** 2)


def make_data(n: int = 200, noise: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 10, n)
    y = np.asarray(curve({k: jnp.asarray(v) for k, v in TRUE.items()}, jnp.asarray(t)))
    return t, y + noise * np.random.default_rng(seed).standard_normal(n)


def show(name: str, params: dict[str, float]) -> None:
    print(f"  {name:10s} " + "  ".join(f"{k}={float(params[k]):+.4f}" for k in TRUE))


def fit_functional(t, y, steps: int) -> dict[str, jax.Array]:
    tx = fo.lbfgs(**LBFGS_ARGS)
    params = {k: jnp.asarray(v) for k, v in GUESS.items()}
    state = tx.init(params)
    step = jax.jit(tx.step, static_argnums=0)  # loss_fn is static; the data is traced
    for i in range(steps):
        params, state, loss = step(loss_fn, state, params, t, y)  # loss: at the params before the step
        evals = int(state.inner_state.func_evals)
        print(f"  step {i}: loss before {float(loss):.6e}, {evals:3d} evaluations so far")
    print(f"  final loss {float(loss_fn(params, t, y)):.6e}")
    return params


def fit_wrapper(t, y, steps: int) -> dict[str, jax.Array]:
    params = fo.parameters({k: jnp.asarray(v) for k, v in GUESS.items()})
    optimizer = fo.optim.LBFGS(fo.parameter_list(params), **LBFGS_ARGS)
    t, y = jnp.asarray(t), jnp.asarray(y)

    def closure():
        optimizer.zero_grad()
        return fo.backward(loss_fn, params, t, y)

    for i in range(steps):
        loss = optimizer.step(closure)
        print(f"  step {i}: loss before {float(loss):.6e}")
    print(f"  final loss {float(loss_fn(fo.values(params), t, y)):.6e}")
    return fo.values(params)


def fit_torch(t, y, steps: int):
    import torch

    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in GUESS.items()}
    optimizer = torch.optim.LBFGS(list(params.values()), **LBFGS_ARGS)
    t, y = torch.from_numpy(t), torch.from_numpy(y)

    def closure():
        optimizer.zero_grad()
        p = params
        loss = torch.mean(
            (p["amplitude"] * torch.exp(-p["decay"] * t) * torch.sin(p["omega"] * t + p["phase"]) + p["offset"] - y)
            ** 2
        )
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)
    return {k: v.item() for k, v in params.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 steps (CI)")
    steps = 2 if parser.parse_args().quick else 4
    t, y = make_data()

    print("functional: fo.lbfgs(...).step(loss_fn, state, params, t, y) under jax.jit")
    functional = fit_functional(t, y, steps)
    print("wrapper: fo.optim.LBFGS(...).step(closure)")
    wrapper = fit_wrapper(t, y, steps)

    print("parameters:")
    show("true", TRUE)
    show("guess", GUESS)
    show("functional", functional)
    show("wrapper", wrapper)
    gap = max(abs(float(functional[k]) - float(wrapper[k])) for k in TRUE)
    print(f"largest difference between the functional and the wrapper fits: {gap:.1e}")
    try:
        theirs = fit_torch(t, y, steps)
    except ImportError:
        return
    show("torch", theirs)
    gap = max(abs(float(functional[k]) - theirs[k]) for k in TRUE)
    print(f"largest difference between functional_optim's and torch.optim.LBFGS's fits: {gap:.1e}")


if __name__ == "__main__":
    main()

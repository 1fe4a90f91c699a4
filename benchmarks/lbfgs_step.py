"""One L-BFGS step on a 1M-parameter least-squares problem: functional_optim (jitted) vs torch.optim.LBFGS.

    python -m benchmarks.lbfgs_step             # needs torch==2.13.0
    python -m benchmarks.lbfgs_step --quick     # 10x fewer parameters

The problem is ``mean((X W - Y)^2) / 2`` over a 1000 x 1000 matrix ``W`` (float32, 1M parameters)
with ``X`` of 256 rows whose columns are scaled over two decades, so that L-BFGS neither
converges nor stalls during the run; ``tolerance_grad`` and ``tolerance_change`` are 0, so every
step does ``max_iter=20`` iterations. Both optimizers use ``history_size=100`` and the strong-Wolfe
line search. Each first runs ``--warmup`` steps (the default 5 fills the 100-pair memory) and then
times ``--repeats`` single steps; the medians, the evaluations per step and the ratio are printed.
The functional step is compiled before timing and its state buffers are donated.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import functional_optim as fo

HISTORY_SIZE = 100
KWARGS = {
    "history_size": HISTORY_SIZE,
    "line_search_fn": "strong_wolfe",
    "tolerance_grad": 0.0,
    "tolerance_change": 0.0,
}


def problem(size: int, rows: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(rows, size)) * np.logspace(0, -2, size)).astype(np.float32)
    y = (x @ rng.normal(size=(size, size)) + 0.1 * rng.normal(size=(rows, size))).astype(np.float32)
    return np.zeros((size, size), np.float32), x, y


def loss_fn(w, x, y):
    return 0.5 * ((x @ w - y) ** 2).mean()


def time_functional(w0, x, y, warmup: int, repeats: int) -> tuple[list[float], list[int]]:
    tx = fo.lbfgs(**KWARGS)
    params, x, y = jnp.asarray(w0), jnp.asarray(x), jnp.asarray(y)
    state = tx.init(params)
    step = jax.jit(tx.step, static_argnums=0, donate_argnums=(1, 2))
    times, evals = [], []
    for i in range(warmup + repeats):
        before = int(state.inner_state.func_evals)
        start = time.perf_counter()
        params, state, loss = step(loss_fn, state, params, x, y)
        jax.block_until_ready((params, state, loss))
        if i >= warmup:
            times.append(time.perf_counter() - start)
            evals.append(int(state.inner_state.func_evals) - before)
    return times, evals


def time_torch(w0, x, y, warmup: int, repeats: int) -> tuple[list[float], list[int]]:
    import torch

    w = torch.tensor(w0, requires_grad=True)
    x, y = torch.tensor(x), torch.tensor(y)
    optimizer = torch.optim.LBFGS([w], **KWARGS)

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(w, x, y)
        loss.backward()
        return loss

    times, evals = [], []
    for i in range(warmup + repeats):
        before = optimizer.state[w].get("func_evals", 0)
        start = time.perf_counter()
        optimizer.step(closure)
        if i >= warmup:
            times.append(time.perf_counter() - start)
            evals.append(optimizer.state[w]["func_evals"] - before)
    return times, evals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 100k-parameter problem (316 x 316)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = 316 if args.quick else 1000
    w0, x, y = problem(size)
    print(f"L-BFGS step, {w0.size:,} float32 params, history_size={HISTORY_SIZE}, strong Wolfe, max_iter=20")
    print(f"devices: jax {jax.devices()[0].platform}; warmup {args.warmup} steps, median of {args.repeats}")
    results = {}
    for name, run in (("functional_optim (jit)", time_functional), ("torch.optim.LBFGS", time_torch)):
        times, evals = run(w0, x, y, args.warmup, args.repeats)
        results[name] = statistics.median(times)
        print(f"  {name:24s} {results[name] * 1e3:9.1f} ms/step   evaluations/step {evals}")
    ratio = results["functional_optim (jit)"] / results["torch.optim.LBFGS"]
    print(f"  ratio functional / torch: {ratio:.2f}")


if __name__ == "__main__":
    main()

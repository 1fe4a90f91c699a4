"""The optimizer zoo: every algorithm on the Rosenbrock function and on the digits data set.

    python examples/optimizer_zoo.py          # writes docs/images/zoo_rosenbrock.png and zoo_digits.png
    python examples/optimizer_zoo.py --quick  # a few steps, into a temporary folder (CI)

Two pictures, drawn with matplotlib:

* ``zoo_rosenbrock.png``: the path of every algorithm on the 2-D Rosenbrock function
  :math:`f(x, y) = (1 - x)^2 + 100 (y - x^2)^2` from (-1.5, 2) over its contour plot, in
  float64;
* ``zoo_digits.png``: the training loss of every algorithm on an MLP (64 -> 64 -> 10) fitted to
  scikit-learn's 8x8 digits, full batch.

functional_optim's runs are the solid lines (the functional API under ``jax.jit``). When torch
is installed, the same algorithm with the same arguments from the same starting point is run
with ``torch.optim`` and drawn over it as dots: they coincide, which is the point of the
library. Each algorithm's largest difference from torch is printed.

Both problems run in float64, the precision of the parity tests (about 1e-10 relative to torch
over 50 steps), so that the comparison holds over hundreds of steps: float32 runs agree to
float32 rounding, and an optimisation that is sensitive to its starting point (large steps
across the Rosenbrock valley, Rprop's sign tests, a loss driven towards zero) amplifies even
last-bit differences over long runs, between torch's own for-loop and foreach kernels as
well. Muon's Newton-Schulz iteration runs in bfloat16 (as torch's does), so its curve agrees
to bfloat16 rounding.

Special cases: L-BFGS runs with ``max_iter=1`` (and ``max_eval=25``) and the strong-Wolfe line
search, so that one step is one iteration (``fo.lbfgs``'s ``step`` takes the loss function, torch's closure);
SparseAdam is fed the dense gradients as sparse arrays (a BCOO holding every entry; torch:
``grad.to_sparse()``); Muon only optimises matrices, so it is not run on Rosenbrock, and on
the digits it trains the weight matrices while AdamW trains the biases, as Muon is meant to
be used.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import pathlib
import tempfile
import time
from collections.abc import Callable
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)  # both problems run in float64, like torch's float64 tensors

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.experimental import sparse  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import functional_optim as fo  # noqa: E402

try:
    import torch
except ImportError:  # the pictures then show functional_optim alone
    torch = None

IMAGES = pathlib.Path(__file__).resolve().parent.parent / "docs" / "images"
START = (-1.5, 2.0)
# One iteration per step, to draw each; torch's default max_eval (max_iter * 5 // 4 = 1) would
# leave the line search no evaluation, so the step would not move.
LBFGS_ARGS = {"max_iter": 1, "max_eval": 25, "line_search_fn": "strong_wolfe"}


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One entry of the zoo: torch's class name, functional_optim's factory, the arguments per problem."""

    name: str
    factory: Callable[..., Any]
    rosenbrock: dict[str, Any] | None  # None: not run on that problem
    digits: dict[str, Any]


ZOO = [
    Algorithm("SGD", fo.sgd, {"lr": 1e-3, "momentum": 0.9}, {"lr": 0.5, "momentum": 0.9}),
    Algorithm("Adam", fo.adam, {"lr": 0.1}, {"lr": 3e-3}),
    Algorithm("AdamW", fo.adamw, {"lr": 0.1, "weight_decay": 0.01}, {"lr": 3e-3, "weight_decay": 0.1}),
    Algorithm("NAdam", fo.nadam, {"lr": 0.02}, {"lr": 3e-3}),
    Algorithm("RAdam", fo.radam, {"lr": 0.01}, {"lr": 3e-3}),
    Algorithm("Adamax", fo.adamax, {"lr": 0.2}, {"lr": 3e-3}),
    Algorithm("Adagrad", fo.adagrad, {"lr": 1.0}, {"lr": 0.03}),
    Algorithm("Adadelta", fo.adadelta, {"lr": 15.0}, {"lr": 1.0}),
    Algorithm("RMSprop", fo.rmsprop, {"lr": 0.003}, {"lr": 1e-3}),
    Algorithm("Rprop", fo.rprop, {"lr": 0.01}, {"lr": 1e-4, "step_sizes": (1e-6, 1e-3)}),
    Algorithm("ASGD", fo.asgd, {"lr": 2e-3}, {"lr": 0.5}),
    Algorithm("Adafactor", fo.adafactor, {"lr": 0.1}, {"lr": 0.03}),
    Algorithm("SparseAdam", fo.sparse_adam, {"lr": 0.1}, {"lr": 3e-3}),
    Algorithm("LBFGS", fo.lbfgs, LBFGS_ARGS, LBFGS_ARGS),
    Algorithm("Muon", fo.muon, None, {"lr": 0.01}),
]
MUON_BIAS_ADAMW = {"lr": 3e-3}


# -- the two problems, as pure functions of a params pytree --------------------------------------


def rosenbrock(params: jax.Array) -> jax.Array:
    x, y = params[0], params[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float64), digits.target.astype(np.int64)


def init_mlp(seed: int = 0, sizes=(64, 64, 10)) -> list[np.ndarray]:
    """``[w1, b1, w2, b2]`` as float64 numpy arrays, shared by the JAX and the torch runs."""
    rng = np.random.default_rng(seed)
    arrays = []
    for m, n in itertools.pairwise(sizes):
        arrays += [(rng.standard_normal((m, n)) * np.sqrt(2 / m)), np.zeros(n)]
    return arrays


def digits_loss(params: list[jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    w1, b1, w2, b2 = params
    logits = jax.nn.relu(x @ w1 + b1) @ w2 + b2
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


# -- functional_optim runs -------------------------------------------------------------------------


def run_functional(algo: Algorithm, kwargs: dict[str, Any], loss_fn, params, steps: int, *data):
    """``steps`` steps of the functional API from ``params``.

    Returns the params before each step and after the last (``steps + 1``), and the loss
    before each step (``steps``).
    """
    if algo.name == "LBFGS":
        tx = fo.lbfgs(**kwargs)
        step = jax.jit(tx.step, static_argnums=0)

        def train_step(params, state):
            params, state, loss = step(loss_fn, state, params, *data)  # loss at the incoming params
            return params, state, loss

    else:
        if algo.name == "Muon":  # Muon for the matrices, AdamW for the biases
            labels = ["muon" if np.ndim(p) == 2 else "adamw" for p in params]
            tx = optax.partition({"muon": fo.muon(**kwargs), "adamw": fo.adamw(**MUON_BIAS_ADAMW)}, labels)
        else:
            tx = algo.factory(**kwargs)

        @jax.jit
        def train_step(params, state):
            loss, grads = jax.value_and_grad(loss_fn)(params, *data)
            if algo.name == "SparseAdam":  # every entry, as a sparse array (torch: grad.to_sparse())
                grads = jax.tree.map(lambda g: sparse.BCOO.fromdense(g, nse=g.size), grads)
            updates, state = tx.update(grads, state, params)
            return fo.apply_updates(params, updates), state, loss

    state = tx.init(params)
    trajectory, losses = [params], []
    for _ in range(steps):
        params, state, loss = train_step(params, state)
        trajectory.append(params)
        losses.append(loss)
    return jax.device_get(trajectory), np.array(jax.device_get(losses))


# -- torch.optim runs ------------------------------------------------------------------------------


def run_torch(algo: Algorithm, kwargs: dict[str, Any], loss_fn, arrays: list[np.ndarray], steps: int):
    """The same run with torch.optim, from numpy ``arrays``: the same two results as :func:`run_functional`."""
    params = [torch.tensor(a, requires_grad=True) for a in arrays]
    if algo.name == "Muon":
        matrices = [p for p in params if p.ndim == 2]
        vectors = [p for p in params if p.ndim != 2]
        optimizers = [torch.optim.Muon(matrices, **kwargs), torch.optim.AdamW(vectors, **MUON_BIAS_ADAMW)]
    else:
        optimizers = [getattr(torch.optim, algo.name)(params, **kwargs)]

    def closure():
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        if algo.name == "SparseAdam":
            for p in params:
                p.grad = p.grad.to_sparse()
        return loss

    trajectory, losses = [[a.copy() for a in arrays]], []
    for _ in range(steps):
        if algo.name == "LBFGS":
            loss = optimizers[0].step(closure)
        else:
            loss = closure()
            for optimizer in optimizers:
                optimizer.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
        losses.append(loss.item())
    return trajectory, np.array(losses)


def torch_rosenbrock(params):
    (p,) = params
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def torch_digits_loss(x, y):
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def loss_fn(params):
        w1, b1, w2, b2 = params
        return torch.nn.functional.cross_entropy(torch.relu(x @ w1 + b1) @ w2 + b2, y)

    return loss_fn


# -- the pictures --------------------------------------------------------------------------------


def call(name: str, kwargs: dict[str, Any]) -> str:
    """``Name(arg=value, ...)`` for a title or a legend (L-BFGS's arguments abridged)."""
    if name == "LBFGS":
        kwargs = {"max_iter": 1, "line_search_fn": "strong_wolfe"}
    return f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def draw_rosenbrock(steps: int, path: pathlib.Path) -> None:
    algos = [a for a in ZOO if a.rosenbrock is not None]
    cols = 5
    rows = -(-len(algos) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), sharex=True, sharey=True)
    xs, ys = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3.5, 300))
    zs = (1 - xs) ** 2 + 100 * (ys - xs**2) ** 2
    print(f"Rosenbrock from {START}, {steps} steps, float64: distance to the minimum (1, 1), and the largest")
    print("difference in a coordinate from torch.optim's path")
    for ax, algo in zip(axes.flat, algos):
        ax.contour(xs, ys, zs, levels=np.logspace(-1, 3.5, 14), cmap="Greys", linewidths=0.6)
        ours, _ = run_functional(algo, algo.rosenbrock, rosenbrock, jnp.array(START), steps)
        ours = np.array(ours)
        ax.plot(ours[:, 0], ours[:, 1], "-", color="tab:blue", lw=1.5, label="functional_optim")
        line = f"  {algo.name:10s} distance {np.hypot(*(ours[-1] - 1)):.1e}"
        if torch is not None:
            theirs, _ = run_torch(algo, algo.rosenbrock, torch_rosenbrock, [np.array(START)], steps)
            theirs = np.array([p for (p,) in theirs])
            shown = np.unique(np.r_[0 : min(steps, 40), 0 : steps + 1 : max(1, steps // 100)])  # every early step
            ax.plot(theirs[shown, 0], theirs[shown, 1], ".", color="tab:orange", ms=2.5, label="torch.optim")
            line += f"   from torch {np.max(np.abs(ours - theirs)):.1e}"
        print(line)
        ax.plot(*START, "o", color="black", ms=4)
        ax.plot(1, 1, "*", color="tab:red", ms=9)
        ax.set_title(call(algo.name, algo.rosenbrock), fontsize=8)
        ax.set_xlim(-2, 2)
        ax.set_ylim(-1, 3.5)
    for ax in list(axes.flat)[len(algos) :]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower left", fontsize=7)
    which = "functional_optim (line) and torch.optim (dots)" if torch is not None else "functional_optim"
    fig.suptitle(f"Rosenbrock, {steps} steps from (-1.5, 2): {which}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_digits(steps: int, path: pathlib.Path) -> None:
    x, y = load_digits_data()
    arrays = init_mlp()
    params = [jnp.asarray(a) for a in arrays]
    loss_torch = torch_digits_loss(x, y) if torch is not None else None
    fig, ax = plt.subplots(figsize=(12, 5.5))
    colors = plt.get_cmap("tab20").colors
    print(f"digits MLP, full batch of {len(x)}, {steps} steps, float64: the last loss, and the largest relative")
    print("difference from torch.optim's loss")
    for color, algo in zip(colors, ZOO):
        _, losses = run_functional(algo, algo.digits, digits_loss, params, steps, x, y)
        ax.plot(losses, "-", color=color, lw=1.4, label=call(algo.name, algo.digits))
        line = f"  {algo.name:10s} loss {losses[-1]:.2e}"
        if torch is not None:
            _, torch_losses = run_torch(algo, algo.digits, loss_torch, arrays, steps)
            every = max(1, steps // 75)
            ax.plot(np.arange(0, steps, every), torch_losses[::every], ".", color=color, ms=3)
            line += f"   from torch {np.max(np.abs(losses - torch_losses) / torch_losses):.1e}"
        print(line)
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 4)
    ax.annotate("L-BFGS goes on to 1e-8", (38, 1.3e-3), fontsize=8, color="gray")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (cross-entropy)")
    which = "functional_optim (lines) and torch.optim (dots)" if torch is not None else "functional_optim"
    ax.set_title(f"An MLP on the 8x8 digits, full batch: {which}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few steps, pictures into a temporary folder")
    parser.add_argument("--out", type=pathlib.Path, default=None, help=f"folder for the PNGs (default {IMAGES})")
    args = parser.parse_args()
    out = args.out or (pathlib.Path(tempfile.mkdtemp(prefix="optimizer_zoo_")) if args.quick else IMAGES)
    out.mkdir(parents=True, exist_ok=True)
    if torch is None:
        print("torch is not installed: drawing functional_optim's curves only")
    else:
        torch.set_num_threads(1)  # small problems: one thread is faster than contended ones

    start = time.perf_counter()
    draw_rosenbrock(10 if args.quick else 1000, out / "zoo_rosenbrock.png")
    draw_digits(5 if args.quick else 200, out / "zoo_digits.png")
    print(f"wrote {out / 'zoo_rosenbrock.png'} and {out / 'zoo_digits.png'} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

"""The small nonconvex problems every parity test optimises, defined once for JAX and torch.

``mixed``: a matrix, a vector and a 0-d scalar leaf, ``mean((s * sum(tanh(X w + b)) - y)^2)``.
``matrices``: two matrices (Muon only optimises 2-D params), ``mean((sum(tanh(X w1) w2) - y)^2)``.
``bounded``: the ``mixed`` leaves in a loss bounded above and below,
``mean(cos(s * sum(tanh(X w + b)) - y))``, free of saturation under
``maximize``: both minimising and maximising settle at stationary points, so sign-driven
algorithms (Rprop) never meet the ~1e-15 gradients where JAX's and torch's roundings differ in sign.
Initial values and data come from a fixed numpy seed, so JAX and torch start from the same bits.
"""

from __future__ import annotations

import numpy as np

PROBLEMS = ("mixed", "matrices", "bounded")


def initial_params(problem: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    if problem in ("mixed", "bounded"):
        return {"w": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,)), "s": np.asarray(rng.normal())}
    if problem == "matrices":
        return {"w1": rng.normal(size=(4, 6)) * 0.5, "w2": rng.normal(size=(6, 3)) * 0.5}
    raise ValueError(f"unknown problem {problem!r}")


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(99)
    return rng.normal(size=(6, 4)), rng.normal(size=(6,))


def loss(problem: str, params: dict, x, y, xp):
    """The loss in array namespace ``xp`` (``jax.numpy`` or ``torch``)."""
    if problem == "mixed":
        hidden = xp.tanh(x @ params["w"] + params["b"])
        return ((params["s"] * hidden.sum(-1) - y) ** 2).mean()
    if problem == "bounded":
        hidden = xp.tanh(x @ params["w"] + params["b"])
        return xp.cos(params["s"] * hidden.sum(-1) - y).mean()
    hidden = xp.tanh(x @ params["w1"]) @ params["w2"]
    return ((hidden.sum(-1) - y) ** 2).mean()

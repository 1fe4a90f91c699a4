"""Muon: the :func:`muon` transform, its state :class:`MuonState` and the :func:`newton_schulz` iteration."""

from __future__ import annotations

import math
import operator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from functional_optim.elementwise import explicit_sharding, per_param
from functional_optim.hyperparams import (
    Hyperparam,
    algorithm_transform,
    cast_like,
    decoupled_decay_factor,
    scalar_dtype,
)
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_value

_ADJUST_LR_FNS = (None, "original", "match_rms_adamw", "spectral_unclamped")


class MuonState(NamedTuple):
    """torch's per-parameter Muon state: the momentum buffer only (no ``step``)."""

    momentum_buffer: Any


def _fma(x: jax.Array, y: jax.Array, z: jax.Array) -> jax.Array:
    """``x * y + z`` with torch's CPU rounding: fused (rounded once) when it is float32 maths.

    torch's float32 ``lerp``, ``add(alpha=)`` and bfloat16 ``addmm`` use fused multiply-adds.
    With float64 enabled, a float32 fused multiply-add is exact in float64 but for sums needing
    more than 53 bits; without it (and for float64 maths) the product is rounded first.
    """
    dtype = jnp.result_type(x, y, z)
    if dtype == jnp.float32 and scalar_dtype() == jnp.float64:
        wide = [v.astype(jnp.float64) for v in (x, y, z)]
        return (wide[0] * wide[1] + wide[2]).astype(jnp.float32)
    return x * y + z


def _lerp(start: jax.Array, end: jax.Array, weight: jax.Array) -> jax.Array:
    """:func:`~functional_optim.elementwise.lerp` with torch's fused multiply-adds."""
    diff = end - start
    return jnp.where(jnp.abs(weight) < 0.5, _fma(weight, diff, start), _fma(-(1 - weight), diff, end))


def _matmul_float32(x: jax.Array, y: jax.Array) -> jax.Array:
    """Product of bfloat16 matrices accumulated in float32, not rounded."""
    return jnp.matmul(x, y, preferred_element_type=jnp.float32)


def newton_schulz(update: jax.Array, ns_coefficients: tuple[Any, Any, Any], ns_steps: int, eps: Any) -> jax.Array:
    """torch's bfloat16 Newton-Schulz orthogonalisation of a 2-D ``update``.

    Args:
      update: the matrix to orthogonalise, any float dtype.
      ns_coefficients: :math:`(a, b, c)`, numbers or 0-d arrays.
      ns_steps: the number of iterations.
      eps: the lower clamp of the Frobenius norm.

    Returns:
      A bfloat16 array of ``update``'s shape: the iterate after ``ns_steps`` steps. An
      ``update`` sharded over Explicit mesh axes is gathered first, so the iteration runs on the
      whole matrix (bit-identical to one device), and the result is sharded like it.
    """
    a, b, c = (jnp.asarray(coefficient).astype(jnp.float32) for coefficient in ns_coefficients)
    x = jnp.asarray(update).astype(jnp.float32).astype(jnp.bfloat16)
    sharding = explicit_sharding(x)
    if sharding is not None:  # Explicit axes: iterate on the whole matrix, as on one device (so bit-identical)
        x = jax.sharding.reshard(x, NamedSharding(sharding.mesh, PartitionSpec()))
    transpose = x.shape[0] > x.shape[1]
    if transpose:
        x = x.T
    norm = jnp.sqrt(jnp.sum(jnp.square(x.astype(jnp.float32)))).astype(jnp.bfloat16)
    norm = jnp.maximum(norm, jnp.asarray(eps).astype(jnp.float32).astype(jnp.bfloat16))
    x = (x.astype(jnp.float32) / norm.astype(jnp.float32)).astype(jnp.bfloat16)
    for _ in range(ns_steps):
        gram = _matmul_float32(x, x.T).astype(jnp.bfloat16)
        gram_update = _fma(b, gram, c * _matmul_float32(gram, gram)).astype(jnp.bfloat16)
        x = _fma(a, x, _matmul_float32(gram_update, x)).astype(jnp.bfloat16)
    x = x.T if transpose else x
    return x if sharding is None else jax.sharding.reshard(x, sharding)


def _lr_ratio(adjust_lr_fn: str | None, shape: tuple[int, ...], fan_out_axis: int) -> float:
    """The factor torch multiplies the lr by for an ``A x B`` parameter (Python float maths).

    :math:`A` (torch's rows, the output features) is the length of axis ``fan_out_axis``.
    """
    rows, cols = shape[fan_out_axis], shape[1 - fan_out_axis]
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    if adjust_lr_fn == "spectral_unclamped":
        return math.sqrt(rows / cols)
    return math.sqrt(max(1, rows / cols))


def _check_matrices(params: Any) -> None:
    for path, param in jax.tree_util.tree_leaves_with_path(params):
        if jnp.ndim(param) != 2:
            raise ValueError(
                "Muon only supports 2D parameters whereas we found a parameter with size: "
                f"{jnp.shape(param)} (the param at {jax.tree_util.keystr(path) or 'the root'})"
            )


def _check_static_options(adjust_lr_fn: Any, ns_steps: Any, ns_coefficients: Any) -> int:
    if adjust_lr_fn not in _ADJUST_LR_FNS:
        raise ValueError(
            f"Adjust learning rate function {adjust_lr_fn} is not supported "
            "(adjust_lr_fn must be None, 'original', 'match_rms_adamw' or 'spectral_unclamped')"
        )
    try:
        ns_steps = operator.index(ns_steps)
    except TypeError:
        raise TypeError(f"ns_steps must be an int, but got {ns_steps!r}") from None
    if ns_steps >= 100:
        raise ValueError(f"Number of steps must be less than 100 for computational efficiency (ns_steps is {ns_steps})")
    if callable(ns_coefficients):
        return ns_steps
    if not isinstance(ns_coefficients, (tuple, list)) or len(ns_coefficients) != 3:
        raise ValueError(f"Coefficients must be a tuple of exactly 3 values (ns_coefficients is {ns_coefficients!r})")
    return ns_steps


def muon(
    lr: Hyperparam = 1e-3,
    weight_decay: Hyperparam = 0.1,
    momentum: Hyperparam = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[Hyperparam, Hyperparam, Hyperparam] = (3.4445, -4.7750, 2.0315),
    eps: Hyperparam = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: str | None = None,
    *,
    fan_out_axis: int = 0,
) -> GradientTransformation:
    r"""Momentum orthogonalised by a Newton-Schulz iteration, as ``torch.optim.Muon``, for 2-D parameters only.

    Use it for the hidden layers' weight matrices and another algorithm (e.g. :func:`adamw`)
    for biases, embeddings and every parameter that is not 2-D.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1})\\
       &B_t \leftarrow \operatorname{lerp}(B_{t-1}, g_t, 1-\mu)
           && \text{(an EMA: } \mu B_{t-1} + (1-\mu) g_t \text{)}\\
       &U_t \leftarrow \operatorname{lerp}(g_t, B_t, \mu) \text{ if nesterov else } B_t\\
       &O_t \leftarrow \mathrm{NS}^{(a,b,c)}_{k}(U_t;\ \epsilon)\\
       &\theta_t \leftarrow \theta_{t-1}(1 - \gamma\lambda) - \gamma\, r(A, B)\, O_t
       \end{aligned}

    for an :math:`A \times B` parameter (:math:`A` output features, torch's rows), with
    :math:`r = \sqrt{\max(1, A/B)}` ("original"), :math:`r = 0.2\sqrt{\max(A, B)}`
    ("match_rms_adamw") or :math:`r = \sqrt{A/B}` ("spectral_unclamped"). :math:`\mathrm{NS}`
    runs in bfloat16 on the matrix with rows :math:`\le` columns (transposed when it has more
    rows):

    .. math::

       X_0 \leftarrow \frac{U}{\max(\lVert U\rVert_F,\ \epsilon)}, \qquad
       G \leftarrow X X^\top, \qquad
       X \leftarrow a X + (b G + c G^2) X \quad (k \text{ times}).

    Args:
      lr: learning rate :math:`\gamma`.
      weight_decay: decoupled decay :math:`\lambda`: the parameter is multiplied by
        :math:`1 - \gamma\lambda` (with the unadjusted lr).
      momentum: :math:`\mu`, the EMA factor of the momentum buffer.
      nesterov: orthogonalise :math:`\operatorname{lerp}(g, B, \mu)` instead of the buffer.
      ns_coefficients: :math:`(a, b, c)` of the Newton-Schulz polynomial.
      eps: lower clamp of the Frobenius norm that normalises the Newton-Schulz input.
      ns_steps: number :math:`k` of Newton-Schulz iterations (static; must be less than 100).
      adjust_lr_fn: the lr factor :math:`r` above: ``None`` (as ``"original"``), ``"original"``,
        ``"match_rms_adamw"`` or ``"spectral_unclamped"`` (torch 2.15).
      fan_out_axis: the axis of the output features, whose length is :math:`A`: 0 for torch's
        ``(out, in)`` weights (torch's rule), 1 for Flax's and Equinox-style ``(in, out)``
        kernels, so that an ``nnx.Linear`` kernel gets the lr torch gives the same layer. Only
        the lr factor depends on it (the Newton-Schulz iteration is the same for a matrix and
        its transpose).

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding a :class:`~functional_optim.MuonState`.

    Raises:
      ValueError: at construction, for a negative lr, momentum or weight decay, an unknown
        ``adjust_lr_fn`` or ``fan_out_axis``, ``ns_steps >= 100`` or ``ns_coefficients`` not of length 3; from
        ``init``, for a parameter that is not 2-D.
      TypeError: from ``init``, for a complex parameter.

    Example (Flax ``(in, out)`` kernels; the other parameters go to another algorithm)::

        tx = fo.muon(lr=0.02, weight_decay=0.1, adjust_lr_fn="match_rms_adamw", fan_out_axis=1)
        state = tx.init(kernels)
        updates, state = tx.update(kernel_grads, state, kernels)
        kernels = fo.apply_updates(kernels, updates)

    torch behaviours reproduced: the buffer is an EMA (not the :math:`\mu B + g` of torch's
    docstring) and starts at zero; the decoupled decay uses the unadjusted lr; there is no
    ``step`` in the state; a tensor lr makes ``lr * r`` and ``1 - lr * weight_decay`` float32
    maths. The Newton-Schulz iteration follows torch's CPU bfloat16 arithmetic op by op: the
    input is rounded to float32 and then to bfloat16 (torch's conversion from float64); the
    Frobenius norm is accumulated in float32, rounded to bfloat16 and clamped at ``eps``; the
    division is done in float32 and rounded once; each matmul accumulates the exact bfloat16
    products in float32 and rounds once to bfloat16; each ``addmm(C, P, Q, beta, alpha)`` is
    ``fma(beta, C, alpha * (P @ Q))`` in float32, rounded once to bfloat16. torch's float32
    ``lerp`` and ``add(alpha=)`` are fused multiply-adds on CPUs with FMA, and are fused here too.
    A float32 fused multiply-add is computed in float64 when JAX has float64 enabled (exact but
    for sums needing more than 53 bits); without it the product is rounded first.

    Against torch 2.13 on an x86 CPU, the iteration was bit-identical for every matrix tried
    whose smaller side was at most 16; for larger ones torch's CPU kernels sum the float32
    products in an order of their own (as any GPU kernel does), so a few bfloat16 roundings
    differ by one unit. Such a rounding turns a tiny difference in the input (a gradient from
    JAX instead of torch's autograd, say) into one of about 2**-8 relative; over the 50-step parity
    tests none happened: float64 trajectories agree with torch to 2e-15 and float32 ones to 5e-10.

    Differences from torch: torch rejects a parameter that is not 2-D when the optimizer is built
    and a complex one at the first step; here the parameters first appear in ``init``, which
    raises both errors (``ValueError`` and ``TypeError``). ``ns_steps >= 100`` and a
    ``ns_coefficients`` that is not three values, which torch rejects at the first step, are
    rejected when the transform is built.
    """
    check_value("lr", lr, lambda v: v >= 0, "Learning rate should be >= 0 but is", ">= 0")
    check_value("momentum", momentum, lambda v: v >= 0, "momentum should be >= 0 but is", ">= 0")
    check_value("weight_decay", weight_decay, lambda v: v >= 0, "weight decay should be >= 0 but is", ">= 0")
    ns_steps = _check_static_options(adjust_lr_fn, ns_steps, ns_coefficients)
    if fan_out_axis not in (0, 1, -2, -1):
        raise ValueError(f"fan_out_axis must be 0 or 1 (an axis of a 2-D parameter), but got {fan_out_axis!r}")
    fan_out_axis %= 2

    def init(params, hyperparams):
        del hyperparams
        _check_matrices(params)
        return MuonState(momentum_buffer=jax.tree.map(jnp.zeros_like, params))

    def step(grads, state, params, hyperparams, count):
        del count
        lr, weight_decay, momentum = hyperparams["lr"], hyperparams["weight_decay"], hyperparams["momentum"]
        ns_coefficients, eps = hyperparams["ns_coefficients"], hyperparams["eps"]
        scalars = {
            "one_minus_momentum": 1 - momentum,
            "momentum": momentum,
            "decay_factor": decoupled_decay_factor(lr, weight_decay),
        }
        adjusted_lrs = jax.tree.map(
            lambda p: (
                lr * cast_like(jnp.asarray(_lr_ratio(adjust_lr_fn, jnp.shape(p), fan_out_axis), scalar_dtype()), lr)
            ),
            params,
        )

        def one_param(s, param, grad, buf, adjusted_lr):
            buf = _lerp(buf, grad, s["one_minus_momentum"])
            update = _lerp(grad, buf, s["momentum"]) if nesterov else buf
            orthogonal = newton_schulz(update, ns_coefficients, ns_steps, eps).astype(param.dtype)
            param = param * s["decay_factor"]
            return _fma(-adjusted_lr, orthogonal, param), buf

        new_params, momentum_buffer = per_param(one_param, scalars, params, grads, state.momentum_buffer, adjusted_lrs)
        return new_params, MuonState(momentum_buffer)

    hyperparams = {
        "lr": lr,
        "weight_decay": weight_decay,
        "momentum": momentum,
        "ns_coefficients": tuple(ns_coefficients) if not callable(ns_coefficients) else ns_coefficients,
        "eps": eps,
    }
    return algorithm_transform("Muon", init, step, hyperparams, supports_complex=False)

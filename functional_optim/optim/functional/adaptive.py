"""torch's in-place steps of the per-coordinate adaptive methods: adadelta, adafactor, adagrad and rmsprop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from functional_optim.algorithms.adadelta import adadelta as adadelta_algorithm
from functional_optim.algorithms.adafactor import adafactor as adafactor_algorithm
from functional_optim.algorithms.adagrad import adagrad as adagrad_algorithm
from functional_optim.algorithms.rmsprop import rmsprop as rmsprop_algorithm
from functional_optim.optim.adafactor import group_eps
from functional_optim.optim.functional.adapter import Number, Param, Signature, step_in_place


def _adafactor_eps(arguments: dict[str, Any], params: list[jax.Array], grads: Sequence[Any]) -> dict[str, Any]:
    """torch's ``eps1=None``: the first parameter's ``finfo(dtype).eps``, for every parameter."""
    del grads
    arguments["eps1"], arguments["eps2"] = group_eps((arguments["eps1"], arguments["eps2"]), params)
    return arguments


_ADADELTA = Signature(
    adadelta_algorithm, (("square_avgs", "square_avg"), ("acc_deltas", "acc_delta"), ("state_steps", "step"))
)
_ADAFACTOR = Signature(
    adafactor_algorithm,
    (("row_vars", "row_var"), ("col_vars", "col_var"), ("variances", "variance"), ("state_steps", "step")),
    pairs={"eps": ("eps1", "eps2")},
    singleton_message="`{}` argument must contain a list of singleton tensors",
    grad_scaling_message="Grad scaling should occur outside of optimizer.step()",
    prepare=_adafactor_eps,
)
_ADAGRAD = Signature(adagrad_algorithm, (("state_sums", "sum"), ("state_steps", "step")))
_RMSPROP = Signature(
    rmsprop_algorithm,
    (
        ("square_avgs", "square_avg"),
        ("grad_avgs", "grad_avg"),
        ("momentum_buffer_list", "momentum_buffer"),
        ("state_steps", "step"),
    ),
)


def adadelta(
    params: list[Param],
    grads: list[jax.Array],
    square_avgs: list[jax.Array],
    acc_deltas: list[jax.Array],
    state_steps: list[jax.Array],
    capturable: bool = False,
    foreach: bool | None = None,
    differentiable: bool = False,
    has_complex: bool = False,
    *,
    lr: Number,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    r"""One Adadelta step on the lists, in place, as ``torch.optim.functional.adadelta``.

    The maths is :func:`functional_optim.adadelta`'s, as :class:`~functional_optim.optim.Adadelta`'s ``step()`` runs it.

    Args:
      square_avgs, acc_deltas: each parameter's running averages of squared gradients and of
        squared updates (zeros before the first step).
      lr, rho, eps, weight_decay, maximize: :func:`functional_optim.adadelta`'s arguments.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: ``state_steps[i]`` is incremented though nothing reads it; the rest
    is :func:`functional_optim.adadelta`'s.

    Example::

        square_avgs, acc_deltas = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
        steps = [jnp.zeros((), jnp.float32) for _ in params]
        F.adadelta(params, grads, square_avgs, acc_deltas, steps, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                   maximize=False)
    """
    step_in_place(_ADADELTA, locals())


def adafactor(
    params: list[Param],
    grads: list[jax.Array],
    row_vars: list[jax.Array | None],
    col_vars: list[jax.Array | None],
    variances: list[jax.Array | None],
    state_steps: list[jax.Array],
    foreach: bool | None = None,
    grad_scale: jax.Array | None = None,
    found_inf: jax.Array | None = None,
    has_complex: bool = False,
    *,
    d: float,
    lr: Number,
    beta2_decay: float,
    weight_decay: float,
    eps1: float | None,
    eps2: float,
    maximize: bool,
) -> None:
    r"""One Adafactor step on the lists, in place, as ``torch.optim.functional.adafactor``.

    The maths is :func:`functional_optim.adafactor`'s, as :class:`~functional_optim.optim.Adafactor`'s
    ``step()`` runs it.

    Args:
      row_vars, col_vars: the factored second moment of each parameter of 2 or more dimensions,
        of shapes ``[..., n, 1]`` and ``[..., 1, m]``; None for a 0-d or 1-d one.
      variances: the full second moment of each 0-d or 1-d parameter; None for the others.
      d, lr, beta2_decay, weight_decay, maximize: :func:`functional_optim.adafactor`'s arguments.
      eps1, eps2: its ``eps=(eps1, eps2)``; ``eps1=None`` is ``finfo(dtype).eps`` of the first
        parameter's dtype, for every parameter, as torch resolves it.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: which of ``row_vars``/``col_vars`` and ``variances`` a parameter
    reads depends on its number of dimensions, the others stay None; ``state_steps`` that are not
    arrays raise torch's RuntimeError (without its "API has changed"), and a ``grad_scale`` its
    AssertionError ("Grad scaling should occur outside of optimizer.step()"); the rest is
    :func:`functional_optim.adafactor`'s.

    Example::

        row_vars = [jnp.zeros((*p.shape[:-1], 1), p.dtype) if p.ndim > 1 else None for p in params]
        col_vars = [jnp.zeros((*p.shape[:-2], 1, p.shape[-1]), p.dtype) if p.ndim > 1 else None for p in params]
        variances = [jnp.zeros_like(p) if p.ndim <= 1 else None for p in params]
        F.adafactor(params, grads, row_vars, col_vars, variances, [jnp.zeros((), jnp.float32) for _ in params],
                    d=1.0, lr=1e-2, beta2_decay=-0.8, weight_decay=0.0, eps1=None, eps2=1e-3, maximize=False)
    """
    step_in_place(_ADAFACTOR, locals())


def adagrad(
    params: list[Param],
    grads: list[jax.Array],
    state_sums: list[jax.Array],
    state_steps: list[jax.Array],
    fused: bool | None = None,
    grad_scale: jax.Array | None = None,
    found_inf: jax.Array | None = None,
    has_sparse_grad: bool = False,
    foreach: bool | None = None,
    differentiable: bool = False,
    has_complex: bool = False,
    *,
    lr: Number,
    weight_decay: float,
    lr_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    r"""One Adagrad step on the lists, in place, as ``torch.optim.functional.adagrad``.

    The maths is :func:`functional_optim.adagrad`'s, as :class:`~functional_optim.optim.Adagrad`'s ``step()`` runs it.

    Args:
      state_sums: each parameter's sum of squared gradients (``initial_accumulator_value``
        everywhere before the first step: torch's Adagrad fills it so).
      lr, weight_decay, lr_decay, eps, maximize: :func:`functional_optim.adagrad`'s arguments.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`
        (``has_sparse_grad`` is ignored: the grads are dense arrays).

    torch behaviours reproduced: the decayed lr uses ``state_steps[i]`` after its increment; the
    rest is :func:`functional_optim.adagrad`'s.

    Example::

        state_sums = [jnp.full_like(p, 0.1) for p in params]  # initial_accumulator_value=0.1
        steps = [jnp.zeros((), jnp.float32) for _ in params]
        F.adagrad(params, grads, state_sums, steps, lr=1e-2, weight_decay=0.0, lr_decay=0.0, eps=1e-10, maximize=False)
    """
    step_in_place(_ADAGRAD, locals())


def rmsprop(
    params: list[Param],
    grads: list[jax.Array],
    square_avgs: list[jax.Array],
    grad_avgs: list[jax.Array],
    momentum_buffer_list: list[jax.Array],
    state_steps: list[jax.Array],
    foreach: bool | None = None,
    maximize: bool = False,
    differentiable: bool = False,
    capturable: bool = False,
    has_complex: bool = False,
    *,
    lr: Number,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
) -> None:
    r"""One RMSprop step on the lists, in place, as ``torch.optim.functional.rmsprop``.

    The maths is :func:`functional_optim.rmsprop`'s, as :class:`~functional_optim.optim.RMSprop`'s ``step()`` runs it.

    Args:
      square_avgs: each parameter's running average of squared gradients (zeros at first).
      grad_avgs: each parameter's running average of gradients, read and replaced only when
        ``centered`` (torch's RMSprop passes an empty list otherwise).
      momentum_buffer_list: each parameter's momentum buffer (zeros at first), read and replaced
        only when ``momentum`` is not 0 (an empty list otherwise).
      maximize, lr, alpha, eps, weight_decay, momentum, centered: :func:`functional_optim.rmsprop`'s arguments.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: ``state_steps[i]`` is incremented though nothing reads it; a
    ``momentum`` of 0 leaves ``momentum_buffer_list`` alone; the rest is :func:`functional_optim.rmsprop`'s.

    Example::

        square_avgs, buffers = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
        steps = [jnp.zeros((), jnp.float32) for _ in params]
        F.rmsprop(params, grads, square_avgs, [], buffers, steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                  momentum=0.9, centered=False)
    """
    step_in_place(_RMSPROP, locals())

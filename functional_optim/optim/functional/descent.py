"""torch's in-place steps of gradient descent and its variants: ``sgd``, ``asgd``, ``rprop``, ``muon``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from functional_optim.algorithms.asgd import asgd as asgd_algorithm
from functional_optim.algorithms.muon import muon as muon_algorithm
from functional_optim.algorithms.rprop import rprop as rprop_algorithm
from functional_optim.algorithms.sgd import sgd as sgd_algorithm
from functional_optim.optim.functional.adapter import Number, Param, Signature, step_in_place


def _sgd_momentum(arguments: dict[str, Any], params: list[jax.Array], grads: Sequence[Any]) -> dict[str, Any]:
    """torch's momentum is a float: an array is read as its number (the list's None says whether a
    buffer exists, which :func:`functional_optim.sgd` otherwise tracks in its state)."""
    del params, grads
    if isinstance(arguments["momentum"], (jax.Array, np.ndarray)):
        arguments["momentum"] = float(arguments["momentum"])
    return arguments


def _muon_checks(arguments: dict[str, Any], params: list[jax.Array], grads: Sequence[Any]) -> dict[str, Any]:
    """torch's: no foreach, no complex, 2-D gradients only."""
    del params
    if arguments["foreach"]:
        raise RuntimeError("Foreach is not supported for Muon yet")
    if arguments["has_complex"]:
        raise ValueError("Complex parameters are not supported")
    if any(np.ndim(grad) != 2 for grad in grads):
        raise ValueError("Param gradient must be a 2D matrix")
    return arguments


_SGD = Signature(
    sgd_algorithm,
    (("momentum_buffer_list", "momentum_buffer"),),
    grads="d_p_list",
    created=("momentum_buffer",),
    singleton_lists=(),
    prepare=_sgd_momentum,
)
_ASGD = Signature(
    asgd_algorithm,
    (("axs", "ax"), ("mus", "mu"), ("etas", "eta"), ("state_steps", "step")),
    singleton_lists=(),  # torch's asgd does not check them
)
_RPROP = Signature(
    rprop_algorithm,
    (("prevs", "prev"), ("step_sizes", "step_size"), ("state_steps", "step")),
    pairs={"etas": ("etaminus", "etaplus"), "step_sizes": ("step_size_min", "step_size_max")},
)
_MUON = Signature(
    muon_algorithm, (("muon_momentum_bufs", "momentum_buffer"),), singleton_lists=(), prepare=_muon_checks
)


def sgd(
    params: list[Param],
    d_p_list: list[jax.Array],
    momentum_buffer_list: list[jax.Array | None],
    has_sparse_grad: bool = False,
    foreach: bool | None = None,
    fused: bool | None = None,
    grad_scale: jax.Array | None = None,
    found_inf: jax.Array | None = None,
    *,
    weight_decay: float,
    momentum: float,
    lr: Number,
    dampening: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    r"""One SGD step on the lists, in place, as ``torch.optim.functional.sgd``.

    The maths is :func:`functional_optim.sgd`'s, as :class:`~functional_optim.optim.SGD`'s ``step()`` runs it.

    Args:
      d_p_list: the gradients, one per parameter (torch's name).
      momentum_buffer_list: each parameter's momentum buffer, or None before its first step with
        momentum: the step then creates it (a copy of the first gradient) and puts it in the list.
        Read and replaced only when ``momentum`` is not 0.
      weight_decay, momentum, lr, dampening, nesterov, maximize: :func:`functional_optim.sgd`'s
        arguments; ``lr`` may be an array (torch 2.15's Tensor lr).
      params, and torch's flags: see :mod:`functional_optim.optim.functional` (``has_sparse_grad``
        is ignored: the grads are dense arrays).

    torch behaviours reproduced: a None buffer becomes the first (decayed) gradient, so dampening
    applies from the second step on; there is no ``state_steps``; the rest is :func:`functional_optim.sgd`'s.

    Example::

        buffers = [None] * len(params)
        F.sgd(params, grads, buffers, weight_decay=0.0, momentum=0.9, lr=0.1, dampening=0.0, nesterov=False,
              maximize=False)  # buffers now holds arrays
    """
    step_in_place(_SGD, locals())


def asgd(
    params: list[Param],
    grads: list[jax.Array],
    axs: list[jax.Array],
    mus: list[jax.Array],
    etas: list[jax.Array],
    state_steps: list[jax.Array],
    foreach: bool | None = None,
    maximize: bool = False,
    differentiable: bool = False,
    capturable: bool = False,
    has_complex: bool = False,
    *,
    lambd: float,
    lr: Number,
    t0: float,
    alpha: float,
    weight_decay: float,
) -> None:
    r"""One ASGD step on the lists, in place, as ``torch.optim.functional.asgd``.

    The maths is :func:`functional_optim.asgd`'s, as :class:`~functional_optim.optim.ASGD`'s ``step()`` runs it.

    Args:
      axs: each parameter's running average (zeros at first).
      mus, etas: each parameter's averaging coefficient and step size, float32 scalars (ones,
        and the lr, at first).
      maximize, lambd, lr, t0, alpha, weight_decay: :func:`functional_optim.asgd`'s arguments.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: ``etas`` and ``mus`` are replaced after the parameter moves, from
    the incremented ``state_steps[i]``; torch does not check that the lists hold arrays, so a
    number there raises this module's TypeError instead; the rest is :func:`functional_optim.asgd`'s.

    Example::

        axs, mus = [jnp.zeros_like(p) for p in params], [jnp.ones((), jnp.float32) for _ in params]
        etas, steps = [jnp.asarray(1e-2, jnp.float32) for _ in params], [jnp.zeros((), jnp.float32) for _ in params]
        F.asgd(params, grads, axs, mus, etas, steps, lambd=1e-4, lr=1e-2, t0=1e6, alpha=0.75, weight_decay=0.0)
    """
    step_in_place(_ASGD, locals())


def rprop(
    params: list[Param],
    grads: list[jax.Array],
    prevs: list[jax.Array],
    step_sizes: list[jax.Array],
    state_steps: list[jax.Array],
    foreach: bool | None = None,
    capturable: bool = False,
    maximize: bool = False,
    differentiable: bool = False,
    has_complex: bool = False,
    *,
    step_size_min: float,
    step_size_max: float,
    etaminus: float,
    etaplus: float,
) -> None:
    r"""One Rprop step on the lists, in place, as ``torch.optim.functional.rprop``.

    The maths is :func:`functional_optim.rprop`'s, as :class:`~functional_optim.optim.Rprop`'s ``step()`` runs it.

    Args:
      prevs: each parameter's previous gradient (zeros at first).
      step_sizes: each parameter's step sizes, an array of its shape (filled with the lr at first:
        the lr has no other part in Rprop, so it is no argument here).
      maximize, step_size_min, step_size_max, etaminus, etaplus: :func:`functional_optim.rprop`'s
        arguments, ``step_sizes=(step_size_min, step_size_max)`` and ``etas=(etaminus, etaplus)``.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: after a sign flip the stored ``prevs[i]`` is 0; the rest is
    :func:`functional_optim.rprop`'s.

    Example::

        prevs, step_sizes = [jnp.zeros_like(p) for p in params], [jnp.full_like(p, 1e-2) for p in params]
        steps = [jnp.zeros((), jnp.float32) for _ in params]
        F.rprop(params, grads, prevs, step_sizes, steps, step_size_min=1e-6, step_size_max=50, etaminus=0.5,
                etaplus=1.2)
    """
    step_in_place(_RPROP, locals())


def muon(
    params: list[Param],
    grads: list[jax.Array],
    muon_momentum_bufs: list[jax.Array],
    *,
    foreach: bool | None = None,
    lr: Number,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_coefficients: tuple[float, float, float],
    ns_steps: int,
    eps: float,
    adjust_lr_fn: str | None,
    has_complex: bool,
) -> None:
    r"""One Muon step on the lists, in place, as ``torch.optim.functional.muon``.

    The maths is :func:`functional_optim.muon`'s, as :class:`~functional_optim.optim.Muon`'s ``step()`` runs it.

    Args:
      muon_momentum_bufs: each parameter's momentum buffer (zeros at first).
      foreach: must be None or False: torch raises its RuntimeError for True.
      lr, weight_decay, momentum, nesterov, ns_coefficients, ns_steps, eps, adjust_lr_fn:
        :func:`functional_optim.muon`'s arguments (a parameter's rows are its first axis).
      has_complex: must be False: torch raises its ValueError for True.
      params, grads: see :mod:`functional_optim.optim.functional`; every grad is a matrix.

    torch behaviours reproduced: torch 2.13's ``torch.optim._muon.muon`` keyword-only ``foreach``
    and ``has_complex``, its errors for them and for a grad that is not 2-D; no ``state_steps``;
    the rest is :func:`functional_optim.muon`'s.

    Example::

        buffers = [jnp.zeros_like(p) for p in params]  # every param a matrix
        F.muon(params, grads, buffers, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
               ns_coefficients=(3.4445, -4.775, 2.0315), ns_steps=5, eps=1e-7, adjust_lr_fn=None, has_complex=False)
    """
    step_in_place(_MUON, locals())

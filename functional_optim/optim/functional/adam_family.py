"""torch's in-place steps of Adam and its variants: adam, adamw, adamax, nadam, radam and sparse_adam."""

from __future__ import annotations

import jax
from jax.experimental import sparse

from functional_optim.algorithms import adam as adam_algorithms
from functional_optim.algorithms.adamax import adamax as adamax_algorithm
from functional_optim.algorithms.nadam import nadam as nadam_algorithm
from functional_optim.algorithms.radam import radam as radam_algorithm
from functional_optim.algorithms.sparse_adam import sparse_adam as sparse_adam_algorithm
from functional_optim.optim.functional.adapter import Number, Param, Signature, step_in_place

_BETAS = {"betas": ("beta1", "beta2")}
_ADAM_STATE = (
    ("exp_avgs", "exp_avg"),
    ("exp_avg_sqs", "exp_avg_sq"),
    ("max_exp_avg_sqs", "max_exp_avg_sq"),
    ("state_steps", "step"),
)
_ADAM = Signature(adam_algorithms.adam, _ADAM_STATE, pairs=_BETAS)
_ADAMW = Signature(adam_algorithms.adamw, _ADAM_STATE, pairs=_BETAS)
_ADAMAX = Signature(
    adamax_algorithm, (("exp_avgs", "exp_avg"), ("exp_infs", "exp_inf"), ("state_steps", "step")), pairs=_BETAS
)
_NADAM = Signature(
    nadam_algorithm,
    (("exp_avgs", "exp_avg"), ("exp_avg_sqs", "exp_avg_sq"), ("mu_products", "mu_product"), ("state_steps", "step")),
    pairs=_BETAS,
    singleton_lists=("state_steps", "mu_products"),
)
_RADAM = Signature(
    radam_algorithm, (("exp_avgs", "exp_avg"), ("exp_avg_sqs", "exp_avg_sq"), ("state_steps", "step")), pairs=_BETAS
)
_SPARSE_ADAM = Signature(
    sparse_adam_algorithm,
    (("exp_avgs", "exp_avg"), ("exp_avg_sqs", "exp_avg_sq"), ("state_steps", "step")),
    pairs=_BETAS,
    singleton_lists=(),
    int_steps=True,
)


def adam(
    params: list[Param],
    grads: list[jax.Array],
    exp_avgs: list[jax.Array],
    exp_avg_sqs: list[jax.Array],
    max_exp_avg_sqs: list[jax.Array],
    state_steps: list[jax.Array],
    foreach: bool | None = None,
    capturable: bool = False,
    differentiable: bool = False,
    fused: bool | None = None,
    grad_scale: jax.Array | None = None,
    found_inf: jax.Array | None = None,
    has_complex: bool = False,
    decoupled_weight_decay: bool = False,
    *,
    amsgrad: bool,
    beta1: Number,
    beta2: Number,
    lr: Number,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    r"""One Adam step on the lists, in place, as ``torch.optim.functional.adam``.

    The maths is :func:`functional_optim.adam`'s, as :class:`~functional_optim.optim.Adam`'s ``step()`` runs it.

    Args:
      exp_avgs, exp_avg_sqs: each parameter's first and second moments (zeros before the first step).
      max_exp_avg_sqs: the running maxima of ``exp_avg_sqs``, read and replaced only with
        ``amsgrad`` (torch's Adam passes an empty list without it).
      amsgrad, beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay:
        :func:`functional_optim.adam`'s arguments, ``betas=(beta1, beta2)``.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: ``state_steps[i]`` (a float32 scalar) is incremented before the
    bias corrections use it; ``lr``, ``beta1`` and ``beta2`` may be arrays (float32 tensor maths, as
    torch's Tensor hyperparameters); the rest is :func:`functional_optim.adam`'s.

    Example::

        exp_avgs, exp_avg_sqs = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
        steps = [jnp.zeros((), jnp.float32) for _ in params]
        F.adam(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, beta1=0.9, beta2=0.999,
               lr=1e-3, weight_decay=0.0, eps=1e-8, maximize=False)
    """
    step_in_place(_ADAM, locals())


def adamw(
    params: list[Param],
    grads: list[jax.Array],
    exp_avgs: list[jax.Array],
    exp_avg_sqs: list[jax.Array],
    max_exp_avg_sqs: list[jax.Array],
    state_steps: list[jax.Array],
    foreach: bool | None = None,
    capturable: bool = False,
    differentiable: bool = False,
    fused: bool | None = None,
    grad_scale: jax.Array | None = None,
    found_inf: jax.Array | None = None,
    has_complex: bool = False,
    *,
    amsgrad: bool,
    beta1: Number,
    beta2: Number,
    lr: Number,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    r"""One AdamW step on the lists, in place, as ``torch.optim.functional.adamw``.

    :func:`adam` with ``decoupled_weight_decay=True``: the maths is :func:`functional_optim.adamw`'s.

    Args:
      exp_avgs, exp_avg_sqs, max_exp_avg_sqs: :func:`adam`'s.
      amsgrad, beta1, beta2, lr, weight_decay, eps, maximize: :func:`adam`'s, as
        :func:`functional_optim.adamw`'s arguments.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: the parameter decays by ``1 - lr * weight_decay`` before the
    moments are updated; the rest is :func:`adam`'s.

    Example::

        exp_avgs, exp_avg_sqs = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
        steps = [jnp.zeros((), jnp.float32) for _ in params]
        F.adamw(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, beta1=0.9, beta2=0.999,
                lr=1e-3, weight_decay=1e-2, eps=1e-8, maximize=False)
    """
    step_in_place(_ADAMW, locals())


def adamax(
    params: list[Param],
    grads: list[jax.Array],
    exp_avgs: list[jax.Array],
    exp_infs: list[jax.Array],
    state_steps: list[jax.Array],
    foreach: bool | None = None,
    maximize: bool = False,
    differentiable: bool = False,
    capturable: bool = False,
    has_complex: bool = False,
    *,
    eps: float,
    beta1: float,
    beta2: float,
    lr: Number,
    weight_decay: float,
) -> None:
    r"""One Adamax step on the lists, in place, as ``torch.optim.functional.adamax``.

    The maths is :func:`functional_optim.adamax`'s, as :class:`~functional_optim.optim.Adamax`'s ``step()`` runs it.

    Args:
      exp_avgs, exp_infs: each parameter's first moment and exponentially weighted infinity norm
        (zeros before the first step).
      maximize, eps, beta1, beta2, lr, weight_decay: :func:`functional_optim.adamax`'s
        arguments, ``betas=(beta1, beta2)``.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: ``state_steps[i]`` is incremented before the bias correction uses
    it; the rest is :func:`functional_optim.adamax`'s.

    Example::

        exp_avgs, exp_infs = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
        steps = [jnp.zeros((), jnp.float32) for _ in params]
        F.adamax(params, grads, exp_avgs, exp_infs, steps, eps=1e-8, beta1=0.9, beta2=0.999, lr=2e-3, weight_decay=0.0)
    """
    step_in_place(_ADAMAX, locals())


def nadam(
    params: list[Param],
    grads: list[jax.Array],
    exp_avgs: list[jax.Array],
    exp_avg_sqs: list[jax.Array],
    mu_products: list[jax.Array],
    state_steps: list[jax.Array],
    decoupled_weight_decay: bool = False,
    foreach: bool | None = None,
    capturable: bool = False,
    differentiable: bool = False,
    has_complex: bool = False,
    maximize: bool = False,
    *,
    beta1: float,
    beta2: float,
    lr: Number,
    weight_decay: float,
    momentum_decay: float,
    eps: float,
) -> None:
    r"""One NAdam step on the lists, in place, as ``torch.optim.functional.nadam``.

    The maths is :func:`functional_optim.nadam`'s, as :class:`~functional_optim.optim.NAdam`'s ``step()`` runs it.

    Args:
      exp_avgs, exp_avg_sqs: each parameter's moments (zeros before the first step).
      mu_products: each parameter's product of the momentum coefficients so far, a float32
        scalar (ones before the first step).
      decoupled_weight_decay, maximize, beta1, beta2, lr, weight_decay, momentum_decay, eps:
        :func:`functional_optim.nadam`'s arguments, ``betas=(beta1, beta2)``.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: ``mu_products`` must hold arrays, like ``state_steps`` (torch's
    RuntimeError); both are replaced by the step; the rest is :func:`functional_optim.nadam`'s.

    Example::

        exp_avgs, exp_avg_sqs = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
        mu_products, steps = [jnp.ones((), jnp.float32) for _ in params], [jnp.zeros((), jnp.float32) for _ in params]
        F.nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, beta1=0.9, beta2=0.999, lr=2e-3,
                weight_decay=0.0, momentum_decay=4e-3, eps=1e-8)
    """
    step_in_place(_NADAM, locals())


def radam(
    params: list[Param],
    grads: list[jax.Array],
    exp_avgs: list[jax.Array],
    exp_avg_sqs: list[jax.Array],
    state_steps: list[jax.Array],
    decoupled_weight_decay: bool = False,
    foreach: bool | None = None,
    differentiable: bool = False,
    capturable: bool = False,
    has_complex: bool = False,
    maximize: bool = False,
    *,
    beta1: float,
    beta2: float,
    lr: Number,
    weight_decay: float,
    eps: float,
) -> None:
    r"""One RAdam step on the lists, in place, as ``torch.optim.functional.radam``.

    The maths is :func:`functional_optim.radam`'s, as :class:`~functional_optim.optim.RAdam`'s ``step()`` runs it.

    Args:
      exp_avgs, exp_avg_sqs: each parameter's moments (zeros before the first step).
      decoupled_weight_decay, maximize, beta1, beta2, lr, weight_decay, eps:
        :func:`functional_optim.radam`'s arguments, ``betas=(beta1, beta2)``.
      params, grads, state_steps, and torch's flags: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: the rectification starts once ``state_steps[i]`` (incremented
    first) makes the variance tractable; the rest is :func:`functional_optim.radam`'s.

    Example::

        exp_avgs, exp_avg_sqs = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
        steps = [jnp.zeros((), jnp.float32) for _ in params]
        F.radam(params, grads, exp_avgs, exp_avg_sqs, steps, beta1=0.9, beta2=0.999, lr=1e-3, weight_decay=0.0,
                eps=1e-8)
    """
    step_in_place(_RADAM, locals())


def sparse_adam(
    params: list[Param],
    grads: list[sparse.BCOO],
    exp_avgs: list[jax.Array],
    exp_avg_sqs: list[jax.Array],
    state_steps: list[int],
    *,
    eps: float,
    beta1: float,
    beta2: float,
    lr: Number,
    maximize: bool,
) -> None:
    r"""One SparseAdam step on the lists, in place, as ``torch.optim.functional.sparse_adam``.

    The maths is :func:`functional_optim.sparse_adam`'s, as
    :class:`~functional_optim.optim.SparseAdam`'s ``step()`` runs it: only the entries each
    gradient names are updated.

    Args:
      grads: one :class:`jax.experimental.sparse.BCOO` per parameter, of its shape and dtype
        (the layout of torch's sparse COO gradients; a dense array raises torch's RuntimeError).
      exp_avgs, exp_avg_sqs: each parameter's dense moments (zeros before the first step).
      state_steps: Python ints, each the number of this update for its parameter: torch's
        SparseAdam increments them *before* the call, and the call only reads them.
      eps, beta1, beta2, lr, maximize: :func:`functional_optim.sparse_adam`'s arguments,
        ``betas=(beta1, beta2)``.
      params: see :mod:`functional_optim.optim.functional`.

    torch behaviours reproduced: as torch 2.13's ``torch.optim._functional.sparse_adam``, no
    ``foreach`` or other flags, and ``state_steps`` are ints that are not incremented here; the
    rest is :func:`functional_optim.sparse_adam`'s.

    Example::

        exp_avgs, exp_avg_sqs = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
        steps = [t + 1 for t in steps]  # the caller counts, as torch's SparseAdam
        F.sparse_adam(params, bcoo_grads, exp_avgs, exp_avg_sqs, steps, eps=1e-8, beta1=0.9, beta2=0.999,
                      lr=1e-3, maximize=False)
    """
    step_in_place(_SPARSE_ADAM, locals())

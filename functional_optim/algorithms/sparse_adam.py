"""SparseAdam: the :func:`sparse_adam` transform and its state, :class:`SparseAdamState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import sparse
from jax.sharding import NamedSharding, PartitionSpec

from functional_optim.elementwise import explicit_sharding, per_param
from functional_optim.hyperparams import Hyperparam, algorithm_transform, cast_like, scalar_dtype
from functional_optim.transform import GradientTransformation, Params
from functional_optim.validation import check_betas, check_grad_dtype, check_value


class SparseAdamState(NamedTuple):
    """torch's per-parameter SparseAdam state.

    Attributes:
      step: int32 scalar shared by all parameters. torch keeps a Python int (not a float32
        tensor as the other algorithms do); an integer counter reproduces it exactly, with no
        float32 rounding past 2**24 steps.
      exp_avg: dense first moments, like the params.
      exp_avg_sq: dense second moments, like the params.
    """

    step: jax.Array
    exp_avg: Any
    exp_avg_sq: Any


def _is_sparse(x: Any) -> bool:
    return isinstance(x, sparse.BCOO)


def _where(path: Any) -> str:
    return jax.tree_util.keystr(path) or "the root"


def _check_dense_real_params(params: Params) -> None:
    """torch's construction checks: sparse-layout and complex params raise ValueError."""
    leaves = jax.tree_util.tree_leaves_with_path(params, is_leaf=_is_sparse)
    sparse_params = [_where(path) for path, p in leaves if _is_sparse(p)]
    if sparse_params:
        raise ValueError(f"Sparse params at {', '.join(sparse_params)}: SparseAdam requires dense parameter tensors")
    complex_params = [_where(path) for path, p in leaves if jnp.iscomplexobj(p)]
    if complex_params:
        raise ValueError(
            f"Complex params at {', '.join(complex_params)}: SparseAdam does not support complex parameters"
        )


def _sparse_grads(grads: Any, params: Params) -> Any:
    """Checks that every grad is a BCOO of its param's shape and dtype; returns them unbatched."""
    params_def = jax.tree.structure(params)
    try:
        grad_leaves = params_def.flatten_up_to(grads)
    except ValueError as error:
        raise ValueError(f"SparseAdam: the grads' tree structure does not match the params' ({error})") from None
    checked = []
    for (path, param), grad in zip(jax.tree_util.tree_leaves_with_path(params), grad_leaves):
        if not _is_sparse(grad):
            raise RuntimeError(
                "SparseAdam does not support dense gradients, please consider Adam instead "
                f"(the grad at {_where(path)} is a {type(grad).__name__}, not a jax.experimental.sparse.BCOO)"
            )
        if grad.shape != param.shape:
            raise ValueError(f"SparseAdam: the grad at {_where(path)} has shape {grad.shape}, its param {param.shape}")
        check_grad_dtype(f"SparseAdam: the grad at {_where(path)}", grad, param)  # its values' dtype
        if grad.n_sparse == 0:
            raise ValueError(f"SparseAdam: the grad at {_where(path)} has no sparse dimension")
        if grad.n_batch:
            grad = sparse.bcoo_update_layout(grad, n_batch=0)
        checked.append(grad)
    return params_def.unflatten(checked)


def _gather(x: jax.Array, index: tuple[jax.Array, ...]) -> jax.Array:
    """``x[index]``, zeros at padding slots; replicated when ``x`` is Explicit-sharded (JAX cannot infer it)."""
    sharding = explicit_sharding(x)
    out_sharding = None if sharding is None else NamedSharding(sharding.mesh, PartitionSpec())
    return x.at[index].get(mode="fill", fill_value=0, out_sharding=out_sharding)


def _scatter(x: jax.Array, index: tuple[jax.Array, ...], entries: jax.Array) -> jax.Array:
    """``x`` with ``entries`` at ``index`` (padding slots dropped), sharded like ``x``."""
    return x.at[index].set(entries, mode="drop", out_sharding=explicit_sharding(x))


def _coalesced(grad: sparse.BCOO) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """torch's ``coalesce()`` at a fixed nse: the summed values and one index array per sparse axis.

    Padding slots (out-of-range or negative indices) get the index ``shape``, which gathers as
    zeros and is dropped by the scatters.
    """
    bounds = jnp.asarray(grad.shape[: grad.n_sparse], grad.indices.dtype)
    outside = ((grad.indices < 0) | (grad.indices >= bounds)).any(-1, keepdims=True)
    grad = sparse.BCOO((grad.data, jnp.where(outside, bounds, grad.indices)), shape=grad.shape)
    if grad.nse:
        grad = sparse.bcoo_sum_duplicates(grad, nse=grad.nse)
    return grad.data, tuple(grad.indices[:, axis] for axis in range(grad.n_sparse))


def sparse_adam(
    lr: Hyperparam = 1e-3,
    betas: tuple[Hyperparam, Hyperparam] = (0.9, 0.999),
    eps: Hyperparam = 1e-8,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Lazy Adam for sparse gradients, as ``torch.optim.SparseAdam``; ``update`` takes BCOO gradients.

    Only the entries :math:`I` that the (coalesced) sparse gradient names are touched:

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\operatorname{coalesce}(\nabla f(\theta_{t-1}))
           && \text{(}-\text{ if maximize; duplicate indices summed)}\\
       &m_t[I] \leftarrow m_{t-1}[I] + (1-\beta_1)\,(g_t[I] - m_{t-1}[I])\\
       &v_t[I] \leftarrow v_{t-1}[I] + (1-\beta_2)\,(g_t[I]^2 - v_{t-1}[I])\\
       &\theta_t[I] \leftarrow \theta_{t-1}[I]
           - \frac{\gamma\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,\frac{m_t[I]}{\sqrt{v_t[I]} + \epsilon}
       \end{aligned}

    Entries outside :math:`I` keep their parameter *and* moments bit-for-bit: absent entries are
    not decayed ("lazy" Adam), unlike :func:`functional_optim.adam` fed a gradient with zeros.

    Args:
      lr: learning rate :math:`\gamma > 0`.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1): the decay rates of the two moments,
        applied only to the entries present in the gradient.
      eps: :math:`\epsilon > 0`, added to the root of the second moment.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding a :class:`~functional_optim.SparseAdamState`.

    Example (an embedding table, with the gradient of the looked-up rows only)::

        tx = fo.sparse_adam(lr=1e-2)
        state = tx.init({"table": table})
        rows = table[ids]  # the lookup, outside the loss
        row_grads = jax.grad(loss_of_rows)(rows)  # (len(ids), dim)
        grad = jax.experimental.sparse.BCOO((row_grads, ids[:, None]), shape=table.shape)
        updates, state = tx.update({"table": grad}, state, {"table": table})

    Gradients are :class:`jax.experimental.sparse.BCOO` arrays, one per parameter with its shape,
    the layout of torch's sparse COO gradients: ``BCOO((rows, ids[:, None]), shape=table.shape)``
    names whole rows of an embedding table (``n_dense=1``, like ``nn.Embedding(sparse=True)``),
    and ``n_dense=0`` names single entries. Duplicate indices are summed first, as torch's
    ``coalesce()``; an index is *present* even when its value is zero. Under ``jit`` the number of
    stored entries (``nse``) is part of the shape: keep it fixed (pad with out-of-range indices,
    e.g. ``shape[0]``, which are ignored, as are negative ones) and the update compiles once.

    Dense gradients raise ``RuntimeError`` as in torch. A dense array cannot say which entries
    are present: inferring presence from non-zero values would silently diverge from torch
    whenever a looked-up row's gradient is exactly zero, and ``jax.grad`` never produces BCOO, so
    a dense gradient here most likely means the model wanted :func:`functional_optim.adam`.
    Build the sparse gradient from the gradient of the looked-up rows instead, as in the example.

    torch behaviours reproduced: the moment updates are written ``old + (new - old)(1 - beta)``
    (not torch.lerp); the step size :math:`\gamma\sqrt{1-\beta_2^t}/(1-\beta_1^t)` is scalar maths
    (float32 tensor maths for an array ``lr``); ``step`` counts every update, an empty gradient
    included, which then changes nothing else; ``lr`` and ``eps`` must be strictly positive;
    complex and sparse parameters are rejected with torch's ValueErrors.
    """
    check_value("lr", lr, lambda v: v > 0, "Invalid learning rate", "> 0")
    check_value("eps", eps, lambda v: v > 0, "Invalid epsilon value", "> 0")
    check_betas(betas)

    def init(params, hyperparams):
        del hyperparams
        return SparseAdamState(
            step=jnp.zeros((), jnp.int32),
            exp_avg=jax.tree.map(jnp.zeros_like, params),
            exp_avg_sq=jax.tree.map(jnp.zeros_like, params),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        lr, eps = hyperparams["lr"], hyperparams["eps"]
        beta1, beta2 = hyperparams["betas"]
        step = state.step + 1
        t = step.astype(scalar_dtype())
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        scalars = {
            "one_minus_beta1": 1 - beta1,
            "one_minus_beta2": 1 - beta2,
            "eps": eps,
            "neg_step_size": -(lr * cast_like(jnp.sqrt(bias_correction2), lr) / cast_like(bias_correction1, lr)),
        }

        def one_param(s, param, grad, exp_avg, exp_avg_sq):  # on the present entries only
            grad = -grad if maximize else grad
            exp_avg = exp_avg + (grad - exp_avg) * s["one_minus_beta1"]
            exp_avg_sq = exp_avg_sq + (grad * grad - exp_avg_sq) * s["one_minus_beta2"]
            denom = jnp.sqrt(exp_avg_sq) + s["eps"]
            return param + s["neg_step_size"] * (exp_avg / denom), exp_avg, exp_avg_sq

        params_def = jax.tree.structure(params)
        if params_def.num_leaves == 0:
            return params, state._replace(step=step)
        leaves = params_def.flatten_up_to
        values, index = zip(*[_coalesced(grad) for grad in leaves(grads)])

        def gather(tree):
            return params_def.unflatten([_gather(x, i) for x, i in zip(leaves(tree), index)])

        def scatter(tree, entries):
            return params_def.unflatten([_scatter(x, i, e) for x, i, e in zip(leaves(tree), index, leaves(entries))])

        new_param, new_exp_avg, new_exp_avg_sq = per_param(
            one_param,
            scalars,
            gather(params),
            params_def.unflatten(values),
            gather(state.exp_avg),
            gather(state.exp_avg_sq),
        )
        new_state = SparseAdamState(
            step, scatter(state.exp_avg, new_exp_avg), scatter(state.exp_avg_sq, new_exp_avg_sq)
        )
        return scatter(params, new_param), new_state

    hyperparams = {"lr": lr, "betas": tuple(betas), "eps": eps}
    transform = algorithm_transform("SparseAdam", init, step, hyperparams, prepare_grads=_sparse_grads)

    def checked_init(params):
        _check_dense_real_params(params)
        return transform.init(params)

    return GradientTransformation(checked_init, transform.update)

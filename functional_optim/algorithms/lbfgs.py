"""L-BFGS with an optional strong-Wolfe line search, as ``torch.optim.LBFGS``."""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from functional_optim.algorithms.lbfgs_support import curvature_memory, line_search
from functional_optim.algorithms.lbfgs_support import tree_vectors as vec
from functional_optim.algorithms.lbfgs_support.state import LBFGSState, LBFGSTransformation
from functional_optim.algorithms.lbfgs_support.torch_numbers import Number, number_dtypes, py_min
from functional_optim.algorithms.lbfgs_support.tree_vectors import flatten_vectors, unflatten_vectors
from functional_optim.hyperparams import Hyperparam, algorithm_transform, scalar_dtype
from functional_optim.transform import Params
from functional_optim.validation import check_lr, concrete_value, integer_argument

# The state and transformation types, flatten_vectors and unflatten_vectors live in
# lbfgs_support; users import them from here.
__all__ = ["LBFGSState", "LBFGSTransformation", "flatten_vectors", "lbfgs", "unflatten_vectors"]


# ----------------------------------------------------------------------------------------------
# one step
# ----------------------------------------------------------------------------------------------


class _Loop(NamedTuple):
    """The outer loop's carry: the state, the current point and the step's counters."""

    state: LBFGSState
    x: Params
    loss: jax.Array
    g: Params
    n: jax.Array
    current_evals: jax.Array
    stop: jax.Array


def _lbfgs_step(
    evaluate,
    x,
    loss,
    g,
    state,
    *,
    lr,
    lr_is_tensor,
    tolerance_grad,
    tolerance_change,
    max_iter,
    max_eval,
    strong_wolfe,
):
    """One torch ``LBFGS.step`` from the vector ``x``, where the objective is ``loss`` with gradient ``g``.

    ``evaluate(x) -> (loss, grad)`` evaluates the objective anywhere else. Returns ``(x, state)``.
    """
    dtype = jax.tree.leaves(x)[0].dtype
    # The dtypes of the 0-d tensors torch's arithmetic meets: the params', and an array lr's
    # (torch's Tensor lr) with its promotion against the params'.
    lr_is_tensor = lr_is_tensor or lr.dtype != scalar_dtype()
    dtypes = number_dtypes(dtype, lr.dtype if lr_is_tensor else None)
    one = Number(jnp.ones((), dtypes[0]), jnp.zeros((), jnp.int32), dtypes)
    lr = one.tensor(lr) if lr_is_tensor else one.lift(lr)

    def max_abs(v):
        return one.tensor(vec.abs_max(v))

    def move(x, t, d):  # torch's _add_grad: p += t * d, t cast to the params' dtype
        return vec.axpy(t.astype(dtype), d, x)

    loss = jnp.asarray(loss).astype(scalar_dtype())  # torch's float(closure())
    state = state._replace(func_evals=state.func_evals + 1)

    def iteration(c: _Loop) -> _Loop:
        s, g, loss = c.state, c.g, c.loss
        n, n_iter = c.n + 1, s.n_iter + 1
        first = n_iter == 1

        # The memory update, skipped on the first iteration ever and when y.s <= 1e-10.
        y = jax.tree.map(operator.sub, g, s.prev_flat_grad)
        step = vec.scale(s.d, s.t.astype(dtype))
        ys = vec.dot(y, step)
        memory = curvature_memory.stored(_memory(s), y, step, ys, ~first & (one.tensor(ys) > 1e-10), first)
        r, al = curvature_memory.descent_direction(g, memory, s.al)
        d = vec.where(first, jax.tree.map(operator.neg, g), r)

        prev_flat_grad, prev_loss = g, loss
        t = Number.where(first, py_min(one, 1.0 / one.tensor(vec.abs_sum(g))) * lr, lr)
        gtd = one.tensor(vec.dot(g, d))
        descent = ~(gtd > -tolerance_change)

        def take_step(x, loss, g, t):
            if strong_wolfe:
                f, g, t, evals = line_search.strong_wolfe(
                    lambda t: _evaluate_number(evaluate, move(x, t, d), one),
                    t,
                    d,
                    one.lift(loss),
                    g,
                    gtd,
                    max_eval - c.current_evals,
                )
                return move(x, t, d), f.value, g, t, evals, max_abs(g) <= tolerance_grad
            x = move(x, t, d)

            def reevaluate(_):
                new_loss, new_g = evaluate(x)
                return new_loss.astype(scalar_dtype()), new_g, jnp.ones((), jnp.int32)

            # No re-evaluation on the last iteration: loss and g stay those from before the move.
            loss, g, evals = lax.cond(n != max_iter, reevaluate, lambda _: (loss, g, jnp.zeros((), jnp.int32)), None)
            return x, loss, g, t, evals, (n != max_iter) & (max_abs(g) <= tolerance_grad)

        def no_step(x, loss, g, t):
            return x, loss, g, t, jnp.zeros((), jnp.int32), jnp.zeros((), bool)

        x, loss, g, t, evals, opt_cond = lax.cond(descent, take_step, no_step, c.x, loss, g, t)
        current_evals = c.current_evals + evals
        stop = (
            ~descent
            | (n == max_iter)
            | (current_evals >= max_eval)
            | opt_cond
            | (max_abs(vec.scale(d, t.astype(dtype))) <= tolerance_change)
            | (abs(one.lift(loss) - prev_loss) < tolerance_change)
        )
        state = s._replace(
            func_evals=s.func_evals + evals,
            n_iter=n_iter,
            al=al,
            d=d,
            t=t.value,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
            **memory._asdict(),
        )
        return _Loop(state, x, loss, g, n, current_evals, stop)

    start = _Loop(state, x, loss, g, jnp.zeros((), jnp.int32), jnp.ones((), jnp.int32), max_abs(g) <= tolerance_grad)
    end = lax.while_loop(lambda c: ~c.stop & (c.n < max_iter), iteration, start)
    return end.x, end.state


def _memory(state: LBFGSState) -> curvature_memory.Memory:
    return curvature_memory.Memory(**{name: getattr(state, name) for name in curvature_memory.Memory._fields})


def _evaluate_number(evaluate, x, like: Number):
    loss, g = evaluate(x)
    return like.lift(loss.astype(scalar_dtype())), g


# ----------------------------------------------------------------------------------------------
# the public transform
# ----------------------------------------------------------------------------------------------


def lbfgs(
    lr: Hyperparam = 1,
    max_iter: int = 20,
    max_eval: int | None = None,
    tolerance_grad: Hyperparam = 1e-7,
    tolerance_change: Hyperparam = 1e-9,
    history_size: int = 100,
    line_search_fn: str | None = None,
    *,
    maximize: bool = False,
) -> LBFGSTransformation:
    r"""``torch.optim.LBFGS`` as a :class:`~functional_optim.GradientTransformation`.

    One call of ``step`` does what one ``torch.optim.LBFGS.step(closure)`` does: up to
    ``max_iter`` iterations and ``max_eval`` evaluations of the objective :math:`f`, over all the
    parameters as one vector :math:`\theta` (complex leaves as their real and imaginary parts, as
    torch's ``view_as_real``):

    .. math::

       \begin{aligned}
       &g \leftarrow \nabla f(\theta);\ \text{return at once if } \|g\|_\infty \le \tau_g\\
       &\text{for } k = 1, \dots, \text{max\_iter}:\\
       &\quad \text{on the first iteration ever: } d \leftarrow -g,\ H \leftarrow 1\\
       &\quad \text{otherwise: } y \leftarrow g - g_{\mathrm{prev}},\ s \leftarrow t\,d;\
           \text{if } y^\top s > 10^{-10}: \text{ store } (y, s, \rho = 1/y^\top s)
           \text{ (dropping the oldest of } m\text{)},\ H \leftarrow y^\top s / y^\top y\\
       &\qquad d \leftarrow -\text{two-loop}(g; H, \text{stored pairs})
           \quad\text{(}d = -H_k g \text{, with } H_0 = H\,I\text{)}\\
       &\quad g_{\mathrm{prev}} \leftarrow g,\ f_{\mathrm{prev}} \leftarrow f,\
           t \leftarrow \min(1, 1/\|g\|_1)\,\gamma \text{ on the first iteration ever, else } \gamma\\
       &\quad \text{stop if } g^\top d > -\tau_c\\
       &\quad \text{strong\_wolfe: } (f, g, t) \leftarrow \text{line search from } t;\quad
           \theta \leftarrow \theta + t\,d\\
       &\quad \text{no line search: } \theta \leftarrow \theta + t\,d;\ (f, g) \leftarrow (f(\theta), \nabla f(\theta))
           \text{ unless } k = \text{max\_iter}\\
       &\quad \text{stop if } k = \text{max\_iter},\ \text{max\_eval reached},\ \|g\|_\infty \le \tau_g,\
           \|t\,d\|_\infty \le \tau_c \text{ or } |f - f_{\mathrm{prev}}| < \tau_c
       \end{aligned}

    with :math:`\gamma` = ``lr``, :math:`\tau_g` = ``tolerance_grad``, :math:`\tau_c` =
    ``tolerance_change`` and :math:`m` = ``history_size``.

    Args:
      lr: learning rate :math:`\gamma`, the initial step length of every line search (and the
        fixed step length without one). A (1-element) array is torch's Tensor lr: step-length
        arithmetic with it is rounded to its dtype, as torch's is.
      max_iter: the most iterations in one step.
      max_eval: the most evaluations of the objective in one step; ``None`` means
        ``max_iter * 5 // 4``.
      tolerance_grad: a step ends when the largest gradient entry is at most this.
      tolerance_change: a step ends when the loss changes by less than this, or no parameter
        moves by more than it, or the directional derivative is above minus it.
      history_size: how many curvature pairs the memory keeps (rows of the ring buffers).
      line_search_fn: ``None`` (fixed step length ``lr``) or ``'strong_wolfe'``.
      maximize: maximise the objective (torch 2.15): the step minimises its negation, with
        every loss and gradient negated as torch negates them, so the iterates are those of
        minimising :math:`-f`; ``step`` still returns :math:`f`'s own value.

    Returns:
      An :class:`LBFGSTransformation`: ``init(params)``,
      ``update(grads, state, params, *, value, value_fn) -> (updates, state)`` and
      ``step(loss_fn, state, params, *args) -> (params, state, loss)``.

    Raises:
      ValueError: for a negative or non-1-element ``lr``, or ``history_size < 1``.
      RuntimeError: for a ``line_search_fn`` other than ``None`` and ``'strong_wolfe'``.

    Example::

        tx = fo.lbfgs(line_search_fn="strong_wolfe")
        state = tx.init(params)
        value, grads = jax.value_and_grad(loss_fn)(params)
        params, state = fo.apply_gradients(tx, grads, state, params, value=value, value_fn=loss_fn)

    L-BFGS evaluates the objective several times inside one step (at every line-search
    trial point), so its ``update`` takes the objective as well as the gradient, with optax's
    keyword names: ``value``, the loss at ``params`` (torch's first closure call), and
    ``value_fn``, the loss as a function of the params, which the step differentiates wherever it
    evaluates again. It is a :class:`~functional_optim.GradientTransformation` like every
    algorithm here, so it sits in :func:`~functional_optim.chain` (which forwards the keyword
    arguments), ``nnx.Optimizer`` (``optimizer.update(model, grads, value=..., value_fn=...)``) or
    the torch-style wrapper; ``optax.chain`` forwards them only to optax's own type, so wrap it
    there: ``optax.chain(..., optax.GradientTransformationExtraArgs(*tx))``.

    For a complex parameter, ``grads`` is torch's gradient, the conjugate of ``jax.grad``'s.
    ``tx.step(loss_fn, state, params, *args) -> (params, state, loss)`` does the same from the
    objective alone (``loss_fn(params, *args)``, torch's closure) and returns the loss of its
    *first* evaluation, as torch's ``step`` returns the closure's first value. Everything is pure
    and jit-compilable; all the loops are ``lax.while_loop`` s and the curvature memory is a
    fixed-size ring of ``history_size`` rows, so a jitted step compiles once for a whole run::

        step = jax.jit(tx.step, static_argnums=0)           # loss_fn static, data traced
        for _ in range(100):
            params, state, loss = step(loss_fn, state, params, x, y)

    ``update``'s updates are ``new_params - params``; :func:`~functional_optim.apply_gradients`
    and ``step`` return the new params directly.

    torch concatenates the parameters into one flat vector; here every vector (:math:`\theta`,
    :math:`g`, :math:`d`, the stored pairs) is a tree shaped like the params and is never
    concatenated, so on a mesh each leaf keeps its parameter's sharding (the memory rings too, with
    a leading axis of ``history_size``) and a dot product is each leaf's sum of products, the leaves'
    sums added in order. :func:`flatten_vectors` and :func:`unflatten_vectors` convert the state's
    vectors to and from torch's flat layout.

    ``lr``, ``tolerance_grad`` and ``tolerance_change`` live in the state like every algorithm's
    hyperparameters (``fo.set_hyperparams(state, lr=0.5)``, or a schedule evaluated at the step
    count); ``max_iter``, ``max_eval``, ``history_size`` and ``line_search_fn`` shape the
    computation and are fixed when the transform is built.

    torch behaviours reproduced: ``max_eval`` defaults to ``max_iter * 5 // 4``, resolved at
    construction; ``t = min(1, 1/|g|_1) * lr`` only on the very first iteration of the first step;
    a curvature pair is stored only when :math:`y^\top s > 10^{-10}`; without a line search the
    last iteration moves the params without re-evaluating the objective (so the stored loss and
    gradient are the ones from before the move); the strong-Wolfe search uses torch's hard-coded
    ``c1=1e-4``, ``c2=0.9`` and its own ``tolerance_change=1e-9`` (not the transform's), may use at
    most ``max_eval`` minus the evaluations already made in the step, and has torch's bracketing
    and zoom phases with the insufficient-progress guard and the cubic interpolation;
    ``n_iter`` and ``func_evals`` count over all steps and the memory carries over from one step
    to the next. torch mixes Python floats with 0-d tensors in its scalar arithmetic (the step
    length may be either, and changes between them as the line search runs); the step keeps
    track of which one each number is and rounds as torch does, so float32 runs follow torch's
    float32 arithmetic too.

    Differences: an unsupported ``line_search_fn`` raises torch's ``RuntimeError`` when the
    transform is built (torch raises it at the first step that reaches a line search);
    ``max_iter``, ``max_eval`` and ``history_size`` must be integers and ``history_size >= 1``
    (torch fails at its first memory update with ``history_size=0``); a line search left with
    fewer than 0 evaluations (``max_eval`` below the evaluations already made) takes one trial
    step like one left with 0, where torch fails. Dot products and sums are not added in the
    order of torch's (MKL's, over the flat vector), so iterates agree to rounding; on
    ill-conditioned problems such as Rosenbrock's valley L-BFGS amplifies those last-bit
    differences from one iteration to the next.
    """
    check_lr(lr)
    if line_search_fn not in (None, "strong_wolfe"):
        raise RuntimeError(f"only 'strong_wolfe' is supported (line_search_fn={line_search_fn!r})")
    max_iter = integer_argument("max_iter", max_iter)
    max_eval = max_iter * 5 // 4 if max_eval is None else integer_argument("max_eval", max_eval)
    history_size = integer_argument("history_size", history_size)
    if history_size < 1:
        raise ValueError(f"history_size must be >= 1, but got {history_size}")
    concrete_value("tolerance_grad", tolerance_grad)
    concrete_value("tolerance_change", tolerance_change)
    lr_is_array = isinstance(lr, (jax.Array, np.ndarray))  # torch's Tensor lr

    def init_fn(params: Params, hyperparams: dict[str, Any]) -> LBFGSState:
        if not jax.tree.leaves(params):
            raise ValueError("optimizer got an empty parameter list (LBFGS's params have no leaves)")
        x, m = vec.from_params(params), history_size
        dtype = jax.tree.leaves(x)[0].dtype

        def zeros(shape=(), dtype=dtype):  # a fresh buffer per field, so the state can be donated
            return jnp.zeros(shape, dtype)

        return LBFGSState(
            func_evals=zeros(dtype=jnp.int32),
            n_iter=zeros(dtype=jnp.int32),
            al=zeros(m),
            d=jax.tree.map(jnp.zeros_like, x),
            t=zeros(dtype=scalar_dtype()),
            old_dirs=jax.tree.map(lambda v: vec.zeros_ring(v, m), x),
            old_stps=jax.tree.map(lambda v: vec.zeros_ring(v, m), x),
            ro=zeros(m),
            H_diag=jnp.ones((), dtype),
            prev_flat_grad=jax.tree.map(jnp.zeros_like, x),
            prev_loss=zeros(dtype=scalar_dtype()),
            history_len=zeros(dtype=jnp.int32),
            history_start=zeros(dtype=jnp.int32),
        )

    def maybe_negated(loss: jax.Array, grads: Params) -> tuple[jax.Array, Params]:
        return (-loss, jax.tree.map(operator.neg, grads)) if maximize else (loss, grads)

    def step_fn(grads, state, params, hyperparams, count, *, value, value_fn):
        def in_param_dtypes(x: Params) -> Params:
            return jax.tree.map(lambda v, p: v.astype(p.dtype), x, params)

        def evaluate(x: Params) -> tuple[jax.Array, Params]:
            return maybe_negated(*jax.value_and_grad(lambda v: value_fn(in_param_dtypes(v)))(x))

        x = vec.from_params(params)
        dtype = jax.tree.leaves(x)[0].dtype
        value, grads = maybe_negated(value, jax.tree.map(lambda g: g.astype(dtype), grads))  # _gather_flat_grad
        new_x, state = _lbfgs_step(
            evaluate,
            x,
            value,
            grads,
            state,
            lr=hyperparams["lr"],
            lr_is_tensor=lr_is_array,
            tolerance_grad=hyperparams["tolerance_grad"],
            tolerance_change=hyperparams["tolerance_change"],
            max_iter=max_iter,
            max_eval=max_eval,
            strong_wolfe=line_search_fn == "strong_wolfe",
        )
        return in_param_dtypes(new_x), state

    transform = algorithm_transform(
        "LBFGS",
        init_fn,
        step_fn,
        {"lr": lr, "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change},
        extra_args={
            "value": "the objective at params, the closure's first value",
            "value_fn": "the objective as a function of the params",
        },
    )
    return LBFGSTransformation(*transform)

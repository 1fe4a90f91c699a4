"""torch.optim.swa_utils: AveragedModel, the averaging functions, SWALR and update_bn against torch 2.13.

Averages must be torch's to the bit (float32, float64, bfloat16), SWALR's lrs the very floats
torch computes, errors torch's messages; the pure ``fo.averaging`` pair must give
AveragedModel's numbers inside a jitted loop. Tests named ``*live*`` run torch itself.
"""

from __future__ import annotations

import copy
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim import averaging
from functional_optim.optim import swa_utils
from functional_optim.optim.lr_scheduler import CosineAnnealingLR

STEPS = 6
SHAPES = [(3, 5), (7,), ()]
DTYPES = ["float32", "float64", "bfloat16"]
AVERAGERS = {  # name -> (AveragedModel kwargs, builder of torch's kwargs)
    "default": (dict, lambda su: {}),
    "swa_multi": (
        lambda: {"multi_avg_fn": swa_utils.get_swa_multi_avg_fn()},
        lambda su: {"multi_avg_fn": su.get_swa_multi_avg_fn()},
    ),
    "ema": (lambda: {"avg_fn": swa_utils.get_ema_avg_fn(0.9)}, lambda su: {"avg_fn": su.get_ema_avg_fn(0.9)}),
    "ema_multi": (
        lambda: {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(0.7)},
        lambda su: {"multi_avg_fn": su.get_ema_multi_avg_fn(0.7)},
    ),
    "custom": (
        lambda: {"avg_fn": lambda a, c, n: a + (c - a) * 0.25 + n},
        lambda su: {"avg_fn": lambda a, c, n: a + (c - a) * 0.25 + n},
    ),
}


def trajectory(dtype: str, steps: int = STEPS, seed: int = 0) -> list[list[np.ndarray]]:
    """``steps`` model states, each a list of arrays of SHAPES, exactly representable in ``dtype``."""
    rng = np.random.default_rng(seed)
    states = [[rng.standard_normal(shape) * 3 for shape in SHAPES] for _ in range(steps)]
    return [[np.asarray(jnp.asarray(x, dtype).astype(jnp.float64)) for x in state] for state in states]


def run_ours(dtype: str, kwargs: dict, states: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    params = fo.parameters([jnp.asarray(x, dtype) for x in states[0]])
    swa_model = swa_utils.AveragedModel(params, **kwargs)
    averages = []
    for state in states:
        for p, x in zip(fo.parameter_list(params), state):
            p.data = jnp.asarray(x, dtype)
        swa_model.update_parameters(params)
        averages.append([np.asarray(v.astype(jnp.float64)) for v in swa_model.values()])
    return averages


def run_torch(dtype: str, torch_kwargs, states: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    import torch
    from torch.optim import swa_utils as su

    model = torch.nn.ParameterList(
        [torch.nn.Parameter(torch.tensor(x, dtype=getattr(torch, dtype))) for x in states[0]]
    )
    swa_model = su.AveragedModel(model, **torch_kwargs(su))
    averages = []
    for state in states:
        with torch.no_grad():
            for p, x in zip(model.parameters(), state):
                p.copy_(torch.tensor(x))
        swa_model.update_parameters(model)
        averages.append([p.detach().double().numpy().copy() for p in swa_model.module.parameters()])
    return averages


@pytest.fixture
def torch_swa():
    pytest.importorskip("torch", reason="needs torch 2.13 to run torch.optim.swa_utils")
    from torch.optim import swa_utils as su

    return su


# -- averages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(AVERAGERS))
def test_averaged_model_matches_live_torch_bit_for_bit(name, dtype, torch_swa):
    ours_kwargs, torch_kwargs = AVERAGERS[name]
    states = trajectory(dtype)
    for ours, theirs in zip(run_ours(dtype, ours_kwargs(), states), run_torch(dtype, torch_kwargs, states)):
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)


def test_averaged_model_with_buffers_matches_live_torch(torch_swa):
    import torch

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
            self.register_buffer("stat", torch.zeros(4, dtype=torch.float64))
            self.register_buffer("count", torch.tensor(0))

    rng = np.random.default_rng(1)
    for use_buffers, kwargs in [(False, {}), (True, {}), (True, {"multi_avg_fn": "ema"})]:
        model = Model()
        torch_kwargs = {"multi_avg_fn": torch_swa.get_ema_multi_avg_fn(0.5)} if kwargs else {}
        ours_kwargs = {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(0.5)} if kwargs else {}
        theirs = torch_swa.AveragedModel(model, use_buffers=use_buffers, **torch_kwargs)
        params = fo.parameters({"w": jnp.zeros(4)})
        buffers = {"stat": jnp.zeros(4), "count": jnp.asarray(0)}
        ours = swa_utils.AveragedModel(params, use_buffers=use_buffers, buffers=buffers, **ours_kwargs)
        for step in range(5):
            w, stat, count = rng.standard_normal(4), rng.standard_normal(4), 3 * step + 1
            with torch.no_grad():
                model.w.copy_(torch.tensor(w))
                model.stat.copy_(torch.tensor(stat))
                model.count.fill_(count)
            params["w"].data = jnp.asarray(w)
            buffers = {"stat": jnp.asarray(stat), "count": jnp.asarray(count)}
            theirs.update_parameters(model)
            ours.update_parameters(params, buffers)
            np.testing.assert_array_equal(ours.values()["w"], theirs.module.w.detach().numpy())
            np.testing.assert_array_equal(ours.buffers["stat"], theirs.module.stat.numpy())
            assert int(ours.buffers["count"]) == int(theirs.module.count)
            assert int(ours.n_averaged) == int(theirs.n_averaged)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_averaged", [0, 2, 9])
def test_multi_avg_fns_called_directly_match_live_torch(dtype, num_averaged, torch_swa):
    import torch

    start, end = trajectory(dtype, steps=2, seed=3)
    for n in (num_averaged, torch.tensor(num_averaged)):
        for ours_fn, torch_fn in [
            (swa_utils.get_swa_multi_avg_fn(), torch_swa.get_swa_multi_avg_fn()),
            (swa_utils.get_ema_multi_avg_fn(0.3), torch_swa.get_ema_multi_avg_fn(0.3)),
        ]:
            theirs = [torch.tensor(x, dtype=getattr(torch, dtype)) for x in start]
            torch_fn(theirs, [torch.tensor(x, dtype=getattr(torch, dtype)) for x in end], n)
            ours_n = n if isinstance(n, int) else jnp.asarray(num_averaged)
            ours = ours_fn([jnp.asarray(x, dtype) for x in start], [jnp.asarray(x, dtype) for x in end], ours_n)
            for a, b in zip(ours, theirs):
                np.testing.assert_array_equal(np.asarray(a.astype(jnp.float64)), b.double().numpy())


def test_integer_arrays_follow_live_torch(torch_swa):
    import torch

    a, c = [5, 7, -3], [1, 2, 4]
    theirs = [torch.tensor(a)]
    torch_swa.get_ema_multi_avg_fn(0.9)(theirs, [torch.tensor(c)], 2)
    ours = swa_utils.get_ema_multi_avg_fn(0.9)([jnp.asarray(a)], [jnp.asarray(c)], 2)
    np.testing.assert_array_equal(ours[0], theirs[0].numpy())
    assert ours[0].dtype == jnp.asarray(a).dtype
    swa = torch_swa.get_swa_avg_fn()(torch.tensor(a), torch.tensor(c), torch.tensor(2))
    np.testing.assert_array_equal(swa_utils.get_swa_avg_fn()(jnp.asarray(a), jnp.asarray(c), jnp.asarray(2)), swa)
    for n, ours_n in [(2, 2), (torch.tensor(2), jnp.asarray(2))]:
        with pytest.raises(RuntimeError) as expected:
            torch_swa.get_swa_multi_avg_fn()([torch.tensor(a)], [torch.tensor(c)], n)
        with pytest.raises(RuntimeError) as raised:
            swa_utils.get_swa_multi_avg_fn()([jnp.asarray(a)], [jnp.asarray(c)], ours_n)
        assert str(raised.value) == str(expected.value)


@pytest.mark.parametrize("decay", [-0.1, 1.5])
def test_decay_errors_match_live_torch(decay, torch_swa):
    for ours, theirs in [
        (swa_utils.get_ema_avg_fn, torch_swa.get_ema_avg_fn),
        (swa_utils.get_ema_multi_avg_fn, torch_swa.get_ema_multi_avg_fn),
        (averaging.ema, torch_swa.get_ema_avg_fn),
    ]:
        with pytest.raises(ValueError) as expected:
            theirs(decay)
        with pytest.raises(ValueError, match=None) as raised:
            ours(decay)
        assert str(raised.value) == str(expected.value)


def test_both_avg_fns_error_matches_live_torch(torch_swa):
    import torch

    with pytest.raises(AssertionError) as expected:
        torch_swa.AveragedModel(torch.nn.Linear(1, 1), avg_fn=lambda *a: 0, multi_avg_fn=lambda *a: 0)
    with pytest.raises(AssertionError) as raised:
        swa_utils.AveragedModel({"w": jnp.zeros(1)}, avg_fn=lambda *a: 0, multi_avg_fn=lambda *a: 0)
    assert str(raised.value) == str(expected.value)


# -- properties (no torch) -----------------------------------------------------------------------


def _states(n: int = 5) -> list[dict[str, jax.Array]]:
    rng = np.random.default_rng(7)
    return [
        {"w": jnp.asarray(rng.standard_normal((3, 2))), "b": jnp.asarray(rng.standard_normal(2), jnp.float32)}
        for _ in range(n)
    ]


def test_ema_with_decay_0_copies_and_decay_1_keeps_the_first():
    states = _states()
    for decay, expected in [(0.0, states[-1]), (1.0, states[0])]:
        averager = averaging.ema(decay)
        state = averager.init(states[0])
        for params in states:
            state = averager.update(params, state)
        chex.assert_trees_all_equal(state.averaged, expected)
        assert int(state.n_averaged) == len(states)


@pytest.mark.parametrize("dtype", DTYPES)
def test_swa_of_constant_params_is_that_constant(dtype):
    params = {"w": jnp.asarray([0.1, -3.7, 1e-3], dtype)}
    averager = averaging.swa()
    state = averager.init(params)
    for _ in range(9):
        state = averager.update(params, state)
    chex.assert_trees_all_equal(state.averaged, params)
    chex.assert_trees_all_equal_dtypes(state.averaged, params)


def test_swa_is_the_mean():
    states = _states()
    state = averaging.swa().init(states[0])
    for params in states:
        state = averaging.swa().update(params, state)
    mean = jax.tree.map(lambda *xs: sum(xs) / len(xs), *states)
    chex.assert_trees_all_close(state.averaged, mean, rtol=1e-6)


def test_jitted_update_compiles_once_and_matches_averaged_model():
    traces = []

    def counted(averaged, current, n):
        traces.append(1)
        return averaging.ema_average(averaged, current, 0.8)

    averager = averaging.averager(avg_fn=counted)
    update = jax.jit(averager.update)
    states = _states()
    state = averager.init(states[0])
    swa_model = swa_utils.AveragedModel(fo.parameters(states[0]), avg_fn=swa_utils.get_ema_avg_fn(0.8))
    for params in states:
        state = update(params, state)
        swa_model.update_parameters(fo.parameters(params))
    assert len(traces) == len(jax.tree.leaves(states[0]))  # traced once per leaf, on the first call only
    chex.assert_trees_all_equal(state.averaged, swa_model.values())
    assert int(state.n_averaged) == int(swa_model.n_averaged) == len(states)


@pytest.mark.parametrize("name", ["swa", "ema"])
def test_pure_pair_in_a_jitted_loop_equals_averaged_model(name):
    states = _states()
    averager = averaging.swa() if name == "swa" else averaging.ema(0.9)
    kwargs = {} if name == "swa" else {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(0.9)}
    swa_model = swa_utils.AveragedModel(states[0], **kwargs)  # a tree of arrays is accepted
    assert all(isinstance(p, fo.Parameter) for p in jax.tree.leaves(swa_model.module))

    @jax.jit
    def loop(states, state):
        return jax.lax.fori_loop(
            0, len(states), lambda i, s: averager.update(jax.tree.map(lambda x: x[i], stacked), s), state
        )

    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    for params in states:
        swa_model.update_parameters(params)
    chex.assert_trees_all_equal(loop(states, averager.init(states[0])).averaged, swa_model.values())


def test_init_copies_and_first_update_copies():
    params = {"w": jnp.asarray([1.0, 2.0])}
    state = averaging.swa().init(params)
    assert int(state.n_averaged) == 0
    chex.assert_trees_all_equal(state.averaged, params)
    state = averaging.ema(0.5).update({"w": jnp.asarray([5.0, 6.0])}, state)
    chex.assert_trees_all_equal(state.averaged, {"w": jnp.asarray([5.0, 6.0])})


def test_buffers_are_copied_or_averaged_and_must_be_given_consistently():
    params = fo.parameters({"w": jnp.zeros(2)})
    model = swa_utils.AveragedModel(params, buffers={"mean": jnp.zeros(2)})
    for value in (2.0, 4.0):
        params["w"].data = jnp.full(2, value)
        model.update_parameters(params, {"mean": jnp.full(2, value)})
    chex.assert_trees_all_equal(model.buffers, {"mean": jnp.full(2, 4.0)})
    chex.assert_trees_all_equal(model.values(), {"w": jnp.full(2, 3.0)})
    averaged = swa_utils.AveragedModel(params, use_buffers=True, buffers={"mean": jnp.zeros(2)})
    for value in (2.0, 4.0):
        averaged.update_parameters(params, {"mean": jnp.full(2, value)})
    chex.assert_trees_all_equal(averaged.buffers, {"mean": jnp.full(2, 3.0)})
    with pytest.raises(ValueError, match="buffers must be given"):
        model.update_parameters(params)
    with pytest.raises(ValueError, match="buffers must be given"):
        swa_utils.AveragedModel(params).update_parameters(params, {"mean": jnp.zeros(2)})


def test_device_keeps_the_average_there():
    device = jax.devices()[0]
    params = fo.parameters({"w": jnp.ones(3)})
    model = swa_utils.AveragedModel(params, device=device)
    model.update_parameters(params)
    assert model.values()["w"].devices() == {device}


def test_module_parameters_are_updated_in_place():
    params = fo.parameters({"w": jnp.ones(3)})
    model = swa_utils.AveragedModel(params)
    leaf = model.module["w"]
    model.update_parameters(params)
    assert model.module["w"] is leaf and leaf is not params["w"]


# -- SWALR ---------------------------------------------------------------------------------------

LRS = (0.5, 0.05)


def _ours_optimizer(lrs=LRS):
    w, b = fo.parameters([jnp.zeros(2), jnp.zeros(1)])
    return fo.optim.SGD([{"params": [w]}, {"params": [b], "lr": lrs[1]}], lr=lrs[0])


def _torch_optimizer(lrs=LRS):
    import torch

    w, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([{"params": [w]}, {"params": [b], "lr": lrs[1]}], lr=lrs[0])


def _swalr_run(optimizer, scheduler_module, cosine_module, kwargs, warmup: int, steps: int) -> list[list[float]]:
    """``warmup`` epochs of cosine annealing, then SWALR for ``steps``: every lr, in order."""
    lrs = []
    cosine = cosine_module.CosineAnnealingLR(optimizer, T_max=7)
    for _ in range(warmup):
        optimizer.step()
        cosine.step()
        lrs.append(cosine.get_last_lr())
    scheduler = scheduler_module.SWALR(optimizer, **kwargs)
    lrs.append(scheduler.get_last_lr())
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
    return lrs


SWALR_CASES = [
    {"swa_lr": swa_lr, "anneal_epochs": epochs, "anneal_strategy": strategy}
    for strategy in ("cos", "linear")
    for epochs in (0, 1, 3, 10)
    for swa_lr in (0.01, [0.2, 0.001])
]


@pytest.mark.parametrize("warmup", [0, 3])
@pytest.mark.parametrize("kwargs", SWALR_CASES, ids=str)
def test_swalr_lrs_equal_live_torch(kwargs, warmup, torch_swa):
    import torch

    ours = _swalr_run(_ours_optimizer(), swa_utils, fo.optim.lr_scheduler, kwargs, warmup, 15)
    theirs = _swalr_run(_torch_optimizer(), torch_swa, torch.optim.lr_scheduler, kwargs, warmup, 15)
    assert ours == theirs


def test_swalr_state_dict_and_resume_equal_live_torch(torch_swa):
    kwargs = {"swa_lr": [0.2, 0.001], "anneal_epochs": 6, "anneal_strategy": "linear"}
    runs = []
    for module, optimizer in [(swa_utils, _ours_optimizer()), (torch_swa, _torch_optimizer())]:
        scheduler = module.SWALR(optimizer, **kwargs)
        for _ in range(3):
            optimizer.step()
            scheduler.step()
        saved = copy.deepcopy(scheduler.state_dict())
        fresh = module.SWALR(optimizer, swa_lr=0.5, anneal_strategy="cos")
        fresh.load_state_dict(saved)
        lrs = []
        for _ in range(6):
            optimizer.step()
            fresh.step()
            lrs.append(fresh.get_last_lr())
        runs.append((saved, fresh.anneal_func(0.25), lrs))
    assert runs[0] == runs[1]


def test_swalr_step_epoch_warns_and_follows_the_step_count_as_live_torch(torch_swa):
    runs = []
    for module, optimizer in [(swa_utils, _ours_optimizer()), (torch_swa, _torch_optimizer())]:
        scheduler = module.SWALR(optimizer, swa_lr=0.01, anneal_epochs=4)
        optimizer.step()
        with pytest.warns(UserWarning, match="The epoch parameter"):
            scheduler.step(10)
        with pytest.warns(UserWarning, match="get_last_lr"):
            scheduler.get_lr()
        runs.append((scheduler.last_epoch, scheduler.get_last_lr()))
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"anneal_strategy": "exp"},
        {"anneal_epochs": -1},
        {"anneal_epochs": 2.0},
        {"swa_lr": [0.1, 0.2, 0.3]},
        {"swa_lr": [0.1], "anneal_strategy": "exp"},
    ],
    ids=str,
)
def test_swalr_errors_equal_live_torch(kwargs, torch_swa):
    kwargs = {"swa_lr": 0.05, **kwargs}
    with pytest.raises(ValueError) as expected:
        torch_swa.SWALR(_torch_optimizer(), **kwargs)
    with pytest.raises(ValueError) as raised:
        swa_utils.SWALR(_ours_optimizer(), **kwargs)
    assert str(raised.value) == str(expected.value)


def test_swalr_reaches_swa_lr_and_composes_with_cosine_without_torch():
    optimizer = _ours_optimizer()
    CosineAnnealingLR(optimizer, T_max=10)
    scheduler = swa_utils.SWALR(optimizer, swa_lr=[0.2, 0.001], anneal_epochs=5, anneal_strategy="linear")
    assert all(group["swa_lr"] == lr for group, lr in zip(optimizer.param_groups, [0.2, 0.001]))
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(scheduler.get_last_lr(), [0.2, 0.001], rtol=1e-14)
    state = scheduler.state_dict()
    assert "anneal_func" not in state and "optimizer" not in state and state["_anneal_strategy"] == "linear"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.step()
        scheduler.step()


# -- update_bn -----------------------------------------------------------------------------------

EPS = 1e-5


def _batch_statistics(params, batch_stats, x):
    """A Linear -> BatchNorm1d -> ReLU -> Linear -> BatchNorm1d model in training mode: each BN's batch stats."""
    del batch_stats  # the batch's own statistics do not depend on the running ones
    stats = {}
    h = x
    for name in ("bn1", "bn2"):
        h = h @ params[name]["weight"].T + params[name]["bias"]
        mean, biased = h.mean(0), h.var(0)
        stats[name] = {
            "running_mean": mean,
            "running_var": h.var(0, ddof=1),
            "num_batches_tracked": jnp.asarray(0),
        }
        h = jax.nn.relu((h - mean) / jnp.sqrt(biased + EPS))
    return stats


def _torch_model(dtype):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        torch.nn.BatchNorm1d(4, affine=False),
        torch.nn.ReLU(),
        torch.nn.Linear(4, 2),
        torch.nn.BatchNorm1d(2, affine=False),
    ).to(getattr(torch, dtype))
    return model


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-13), ("float32", 2e-6)])
def test_update_bn_matches_live_torch(dtype, rtol, torch_swa):
    import torch

    model = _torch_model(dtype)
    rng = np.random.default_rng(5)
    data = [rng.standard_normal((8, 3)) * 2 + 1 for _ in range(5)]
    loader = [(torch.tensor(x, dtype=getattr(torch, dtype)), torch.zeros(8)) for x in data[:3]]
    loader += [torch.tensor(x, dtype=getattr(torch, dtype)) for x in data[3:]]  # bare inputs too
    torch_swa.update_bn(loader, model)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    params = {
        name: {"weight": jnp.asarray(state[f"{i}.weight"]), "bias": jnp.asarray(state[f"{i}.bias"])}
        for name, i in (("bn1", 0), ("bn2", 3))
    }
    stale = {
        name: {
            "running_mean": jnp.full(size, 7.0, dtype),
            "running_var": jnp.full(size, 7.0, dtype),
            "num_batches_tracked": jnp.asarray(11),
        }
        for name, size in (("bn1", 4), ("bn2", 2))
    }
    ours_loader = [(jnp.asarray(x, dtype), jnp.zeros(8)) for x in data[:3]] + [jnp.asarray(x, dtype) for x in data[3:]]
    new = swa_utils.update_bn(ours_loader, jax.jit(_batch_statistics), params, stale)
    for name, index in (("bn1", 1), ("bn2", 4)):
        for key in ("running_mean", "running_var"):
            assert new[name][key].dtype == jnp.dtype(dtype)
            np.testing.assert_allclose(new[name][key], state[f"{index}.{key}"], rtol=rtol, atol=0)
        assert int(new[name]["num_batches_tracked"]) == int(state[f"{index}.num_batches_tracked"]) == 5


def test_update_bn_empty_loader_resets_and_empty_stats_skip_the_pass():
    stats = {"bn": {"mean": jnp.full(2, 3.0), "var": jnp.full(2, 3.0), "num_batches_tracked": jnp.asarray(4)}}
    reset = swa_utils.update_bn([], _batch_statistics, {}, stats)
    chex.assert_trees_all_equal(
        reset, {"bn": {"mean": jnp.zeros(2), "var": jnp.ones(2), "num_batches_tracked": jnp.asarray(0)}}
    )

    def never(*args):
        raise AssertionError("the model must not run without statistics")

    assert swa_utils.update_bn([jnp.zeros((2, 3))], never, {}, {}) == {}


def test_update_bn_is_the_cumulative_mean():
    batches = [jnp.asarray([[1.0, 2.0], [3.0, 6.0]]), jnp.asarray([[5.0, 0.0], [7.0, 2.0]])]

    def stats_fn(params, batch_stats, x):
        return {"mean": x.mean(0), "var": x.var(0, ddof=1)}

    new = swa_utils.update_bn(batches, stats_fn, None, {"mean": jnp.zeros(2), "var": jnp.zeros(2)})
    chex.assert_trees_all_close(new["mean"], jnp.asarray([4.0, 2.5]))
    chex.assert_trees_all_close(new["var"], (batches[0].var(0, ddof=1) + batches[1].var(0, ddof=1)) / 2)

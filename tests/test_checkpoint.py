"""fo.save / fo.load: exact round trips without pickle, and clear errors for bad files.

The wrapper's save -> load -> continue runs for every algorithm are in tests/test_wrapper.py
(``test_save_load_continue_is_bit_identical[file]``), tests/test_wrapper_sparse_adam.py and
tests/test_wrapper_lbfgs.py. Crafted, damaged and oversized files are in
tests/test_checkpoint_untrusted.py.
"""

from __future__ import annotations

import collections
import io
import json
import math
import pickle
import re
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim.optim import lr_scheduler
from tests.wrapper_runs import assert_unchanged, snapshot_of, trained_adam


def assert_identical(ours, expected, where="the tree"):
    """Same types (containers, numbers, array kinds), same keys in the same order, same bits."""
    assert type(ours) is type(expected), (where, type(ours), type(expected))
    if isinstance(expected, dict):
        assert list(ours) == list(expected), where
        for key in expected:
            assert type(next(k for k in ours if k == key)) is type(key), (where, key)
            assert_identical(ours[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(ours) == len(expected), where
        for i, (a, b) in enumerate(zip(ours, expected)):
            assert_identical(a, b, f"{where}[{i}]")
    elif isinstance(expected, (jax.Array, np.ndarray, np.generic)):
        assert ours.dtype == expected.dtype and ours.shape == expected.shape, where
        assert np.asarray(ours).tobytes() == np.asarray(expected).tobytes(), where
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(ours), where
    else:
        assert ours == expected, where


def round_trip(tmp_path, tree):
    path = tmp_path / "checkpoint"
    fo.save(path, tree)
    return fo.load(path)


def test_every_supported_type_round_trips_exactly(tmp_path):
    tree = {
        "state": {0: {"step": jnp.asarray(3.0, jnp.float32), "exp_avg": jnp.arange(6.0).reshape(2, 3)}},
        "numbers": [0, -(2**70), 1.0, 0.1, -0.0, 5e-324, float("nan"), float("inf"), -float("inf"), True, False],
        "others": (None, "strong_wolfe", "", (1, (2.5,)), [], {}, ()),
        (1, "tuple key"): 1.5,
        2.5: "float key",
        None: "None key",
        "counter": collections.Counter({3: 2, 10: 1}),
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "dtypes": [
            jnp.ones((2, 2), jnp.bfloat16),
            jnp.asarray([1 + 2j, -3j], jnp.complex64),
            jnp.asarray(7, jnp.int32),
            jnp.asarray([True, False]),
            np.arange(4, dtype=np.uint8),
            np.asarray([1, -2], dtype=jnp.int4),
            np.asarray(np.float16(0.1)),
            np.zeros((0, 3)),
            np.arange(6.0).reshape(2, 3).T,  # Fortran order in the .npy file
        ],
        "numpy scalars": [np.float32(1.5), np.int64(-4), np.bool_(True), np.complex128(1j)],
    }
    loaded = round_trip(tmp_path, tree)
    assert_identical(loaded, tree)
    assert isinstance(loaded["state"][0]["step"], jax.Array)
    assert isinstance(loaded["dtypes"][4], np.ndarray) and not isinstance(loaded["dtypes"][4], jax.Array)


def test_big_endian_numpy_arrays_load_back_in_native_order(tmp_path):
    tree = {"f": np.arange(3.0, dtype=">f8"), "i": np.asarray([1, -2], dtype=">i4"), "c": np.asarray([1j], ">c16")}
    loaded = round_trip(tmp_path, tree)
    for key, array in tree.items():
        np.testing.assert_array_equal(loaded[key], array)
        assert loaded[key].dtype == array.dtype.newbyteorder("=")


def test_an_optimizer_state_dict_round_trips_and_loads(tmp_path):
    optimizer, params = trained_adam()
    state_dict = optimizer.state_dict()
    loaded = round_trip(tmp_path, state_dict)
    assert_identical(loaded, state_dict)
    other = fo.optim.Adam([{"params": [fo.Parameter(params["w"].data)]}, {"params": [fo.Parameter(params["b"].data)]}])
    other.load_state_dict(loaded)
    assert_identical(other.state_dict()["param_groups"], state_dict["param_groups"])


def _schedulers(optimizer):
    s = lr_scheduler
    return {
        "StepLR": s.StepLR(optimizer, step_size=3, gamma=0.5),
        "MultiStepLR": s.MultiStepLR(optimizer, milestones=[2, 5, 5], gamma=0.1),
        "LambdaLR": s.LambdaLR(optimizer, lr_lambda=lambda epoch: 0.9**epoch),
        "CosineAnnealingWarmRestarts": s.CosineAnnealingWarmRestarts(optimizer, T_0=3, T_mult=2),
        "CyclicLR": s.CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=2),
        "OneCycleLR": s.OneCycleLR(optimizer, max_lr=0.1, total_steps=20),
        "SequentialLR": s.SequentialLR(
            optimizer, [s.ConstantLR(optimizer, factor=0.5, total_iters=2), s.ExponentialLR(optimizer, 0.9)], [2]
        ),
        "ChainedScheduler": s.ChainedScheduler([s.LinearLR(optimizer), s.PolynomialLR(optimizer, power=2.0)]),
        "ReduceLROnPlateau": s.ReduceLROnPlateau(optimizer, patience=1),
    }


@pytest.mark.parametrize("name", list(_schedulers(fo.optim.SGD([fo.Parameter(jnp.zeros(2))], lr=0.1, momentum=0.9))))
def test_a_scheduler_state_dict_round_trips_and_resumes(tmp_path, name):
    def make():
        optimizer = fo.optim.SGD([fo.Parameter(jnp.zeros(2))], lr=0.1, momentum=0.9)
        return optimizer, _schedulers(optimizer)[name]

    def advance(optimizer, scheduler, steps):
        lrs = []
        for k in range(steps):
            optimizer.step()
            scheduler.step(1.0 / (1 + k % 3)) if name == "ReduceLROnPlateau" else scheduler.step()
            lrs.append(optimizer.param_groups[0]["lr"])
        return lrs

    optimizer, scheduler = make()
    advance(optimizer, scheduler, 4)
    state_dict = scheduler.state_dict()
    loaded = round_trip(tmp_path, state_dict)
    assert_identical(loaded, state_dict)

    resumed_optimizer, resumed = make()
    resumed_optimizer.load_state_dict(round_trip(tmp_path, optimizer.state_dict()))
    resumed.load_state_dict(loaded)
    assert advance(resumed_optimizer, resumed, 6) == advance(optimizer, scheduler, 6)


def test_the_path_is_used_as_given_and_overwritten(tmp_path):
    path = tmp_path / "run.ckpt"
    fo.save(path, {"a": 1})
    fo.save(str(path), {"a": 2})
    assert fo.load(path) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no .npz added, no temporary file left


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"state": {0: {"f": len}}}, r"cannot save the state_dict\['state'\]\[0\]\['f'\]: a builtins.builtin_function"),
        ([object()], r"cannot save the state_dict\[0\]: a builtins.object"),
        ({"a": np.asarray([{}, 1], dtype=object)}, "an array of Python objects needs pickle"),
        ({"a": np.asarray(["x"])}, "arrays of dtype <U1 are not supported"),
        ({"a": {1, 2}}, "a builtins.set is not one of the types"),
        ({frozenset(): 1}, "keys must be str, int, float, bool or None"),
    ],
)
def test_what_needs_pickle_is_refused_with_its_place(tmp_path, value, match):
    with pytest.raises(TypeError, match=match):
        fo.save(tmp_path / "checkpoint", value)
    assert not list(tmp_path.iterdir())


def test_torch_tensors_are_refused_with_a_hint(tmp_path):
    torch = pytest.importorskip("torch", reason="the hint is for torch tensors")
    with pytest.raises(TypeError, match=re.escape("(convert torch tensors with .numpy())")):
        fo.save(tmp_path / "checkpoint", {"step": torch.tensor(1.0)})


# -- bad files ---------------------------------------------------------------------------------------


def read_members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _rewrite(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def npy_bytes(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _save_objects(path):
    path.write_bytes(npy_bytes(np.asarray([{}], dtype=object), allow_pickle=True))


def with_structure(edit):
    def rewrite(path):
        members = read_members(path)
        document = json.loads(np.load(path)["__structure__"].tobytes())
        edit(document)
        members["__structure__.npy"] = npy_bytes(np.frombuffer(json.dumps(document).encode(), np.uint8))
        _rewrite(path, members)

    return rewrite


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_an_array(path):
    data = bytearray(path.read_bytes())
    at = data.index(np.arange(6.0).tobytes())  # the bytes of exp_avg
    data[at + 3] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_member(name):
    def rewrite(path):
        members = read_members(path)
        del members[name]
        _rewrite(path, members)

    return rewrite


def _add_member(path):
    members = read_members(path)
    members["array_9.npy"] = npy_bytes(np.zeros(3))
    _rewrite(path, members)


def _replace_member(name, array):
    return _replace_member_bytes(name, npy_bytes(array))


def _replace_member_bytes(name, data):
    def rewrite(path):
        members = read_members(path)
        members[name] = data
        _rewrite(path, members)

    return rewrite


def set_array_field(field, value):
    def edit(document):
        document["tree"]["items"][0][1]["items"][0][1]["items"][1][1][field] = value

    return edit


BAD_FILES = {
    "empty": (lambda path: path.write_bytes(b""), "not a functional_optim checkpoint"),
    "text": (lambda path: path.write_text("not a checkpoint"), "not a functional_optim checkpoint"),
    "pickle": (lambda path: path.write_bytes(pickle.dumps({"state": {}})), "not a functional_optim checkpoint"),
    "pickled npy": (lambda path: _save_objects(path), "not a functional_optim checkpoint"),
    "plain npy": (lambda path: path.write_bytes(npy_bytes(np.zeros(3))), "it is one .npy array, not an npz archive"),
    "plain npz": (lambda path: _rewrite(path, {"a.npy": npy_bytes(np.zeros(3))}), "has no '__structure__' entry"),
    "pickled npz member": (
        _replace_member_bytes("array_1.npy", npy_bytes(np.asarray([{}], dtype=object), allow_pickle=True)),
        "its entry 'array_1': it is not a plain array of bools or numbers (its .npy header is \"{'descr': '|O'",
    ),
    "truncated": (_truncate, "not a functional_optim checkpoint"),
    "corrupt array": (
        _corrupt_an_array,
        "is truncated, corrupt or not a functional_optim checkpoint: its entry 'array_1'",
    ),
    "bad json": (_replace_member("__structure__.npy", np.frombuffer(b"{oops", np.uint8)), "is not valid JSON"),
    "json not bytes": (_replace_member("__structure__.npy", np.zeros(3)), "entry is not JSON bytes"),
    "other format": (with_structure(lambda d: d.update(format="other")), "is not a functional_optim checkpoint"),
    "newer version": (with_structure(lambda d: d.update(version=99)), "has checkpoint format version 99"),
    "unknown node": (with_structure(lambda d: d.update(tree={"type": "set"})), "has an unknown type 'set'"),
    "malformed node": (with_structure(lambda d: d.update(tree={"items": 1})), "the description of the state_dict"),
    "missing array": (
        _drop_member("array_1.npy"),
        "the array of the state_dict['state'][0]['exp_avg'] ('array_1') is missing",
    ),
    "extra array": (_add_member, "holds arrays the description never uses: ['array_9']"),
    "array of another shape": (
        _replace_member("array_1.npy", np.zeros(4)),
        "should be a float64 array of shape (2, 3)",
    ),
    "array of another dtype": (
        _replace_member("array_1.npy", np.zeros((2, 3), np.float32)),
        "but the file holds a float32 array",
    ),
    "shape edited": (with_structure(set_array_field("shape", [6])), "should be a float64 array of shape (6,)"),
    "unknown dtype": (with_structure(set_array_field("dtype", "float128x")), "unknown dtype 'float128x'"),
    "array used twice": (with_structure(set_array_field("key", "array_0")), "uses the array 'array_0' twice"),
}


SMALL = {"state": {0: {"step": jnp.asarray(1.0, jnp.float32), "exp_avg": jnp.arange(6.0).reshape(2, 3)}}}


def assert_refused(path, match):
    """``fo.load(path)`` raises ValueError naming the path and matching ``match``; the file and
    its folder are left as they were."""
    before, folder = path.read_bytes(), sorted(path.parent.iterdir())
    with pytest.raises(ValueError, match=re.escape(match)) as error:
        fo.load(path)
    assert str(path) in str(error.value)
    assert path.read_bytes() == before and sorted(path.parent.iterdir()) == folder


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_raises_a_clear_valueerror(tmp_path, name):
    spoil, match = BAD_FILES[name]
    path = tmp_path / "checkpoint"
    fo.save(path, SMALL)
    spoil(path)
    assert_refused(path, match)


def test_a_missing_file_raises_filenotfounderror(tmp_path):
    with pytest.raises(FileNotFoundError):
        fo.load(tmp_path / "nothing here")


def test_loading_never_unpickles(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    optimizer, _ = trained_adam()
    assert_identical(round_trip(tmp_path, optimizer.state_dict()), optimizer.state_dict())
    _save_objects(tmp_path / "object.npy")
    with pytest.raises(ValueError, match="not a functional_optim checkpoint"):
        fo.load(tmp_path / "object.npy")


@pytest.mark.parametrize(
    ("saved", "match"),
    [
        (lambda sd: {**sd, "param_groups": sd["param_groups"][:1]}, "different number of parameter groups"),
        (lambda sd: _resized(sd), "doesn't match the size of optimizer's group"),
        (lambda sd: _with_state(sd, exp_avg=np.zeros(5)), "'exp_avg' of shape (5,) for parameter 1"),
        (lambda sd: {"last_epoch": 3, "base_lrs": [0.1]}, "needs a 'state' dict and a 'param_groups' list"),
    ],
)
def test_a_mismatched_checkpoint_leaves_the_optimizer_unchanged(tmp_path, saved, match):
    optimizer, params = trained_adam()
    loaded = round_trip(tmp_path, saved(optimizer.state_dict()))
    snapshot = snapshot_of(optimizer, params)
    with pytest.raises(ValueError, match=re.escape(match)):
        optimizer.load_state_dict(loaded)
    assert_unchanged(optimizer, params, snapshot)


def _resized(state_dict):
    groups = [dict(group) for group in state_dict["param_groups"]]
    groups[1]["params"] = [1, 2]
    return {**state_dict, "param_groups": groups}


def _with_state(state_dict, **fields):
    state = {k: dict(v) for k, v in state_dict["state"].items()}
    state[1].update(fields)
    return {**state_dict, "state": state}


# -- any tree of the supported types -----------------------------------------------------------------


def _trees():
    """Nested dicts (with every supported key type), OrderedDicts, lists and tuples of Python
    scalars, strings, numpy scalars and numpy/jax arrays of every supported dtype and order."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    hnp = pytest.importorskip("hypothesis.extra.numpy")
    dtypes = st.sampled_from(
        ["float64", "float32", "float16", "bfloat16", "complex64", "complex128", "int8", "int64", "uint32", "bool"]
    ).map(jnp.dtype)
    numpy_arrays = dtypes.flatmap(
        lambda dtype: hnp.arrays(
            np.uint8 if dtype == jnp.bfloat16 else dtype,
            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
        ).map(lambda a: a.astype(dtype))
    )
    arrays = st.one_of(
        numpy_arrays,
        numpy_arrays.map(np.asfortranarray),
        numpy_arrays.filter(lambda a: a.dtype != jnp.bfloat16 and a.dtype.itemsize > 1).map(
            lambda a: a.astype(a.dtype.newbyteorder(">"))
        ),
        numpy_arrays.map(jnp.asarray),
        numpy_arrays.filter(lambda a: a.ndim == 0).map(lambda a: a[()]),  # numpy scalars
    )
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
    keys = st.one_of(st.text(max_size=5), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
    return st.recursive(
        st.one_of(scalars, arrays),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.lists(children, max_size=3).map(tuple),
            st.dictionaries(keys, children, max_size=3),
            st.dictionaries(st.text(max_size=3), children, max_size=3).map(collections.OrderedDict),
        ),
        max_leaves=12,
    )


def _in_native_byte_order(tree):
    """``tree`` as ``load`` returns it: numpy arrays in native byte order, all else as it was."""
    if isinstance(tree, np.ndarray):
        return tree.astype(tree.dtype.newbyteorder("="))
    if isinstance(tree, (list, tuple)):
        return type(tree)(map(_in_native_byte_order, tree))
    if isinstance(tree, dict):
        return type(tree)((key, _in_native_byte_order(value)) for key, value in tree.items())
    return tree


def test_any_tree_of_supported_types_round_trips_exactly(tmp_path_factory):
    hypothesis = pytest.importorskip("hypothesis")

    @hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.too_slow])
    @hypothesis.given(_trees())
    def round_trips(tree):
        loaded = round_trip(tmp_path_factory.mktemp("tree"), tree)
        assert_identical(loaded, _in_native_byte_order(tree))

    round_trips()

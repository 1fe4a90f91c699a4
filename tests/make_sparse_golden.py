"""SparseAdam's embedding problem, for JAX and torch, and the writer of its golden file.

Two tables learn from sparse gradients: ``bag`` through a sum-mode ``nn.EmbeddingBag`` (4 bags
of 3, 4, 2 and 3 ids) and ``emb`` through an ``nn.Embedding`` (4 x 2 ids), both
``sparse=True``. The ids of each step repeat (so torch's gradients have duplicate indices to
coalesce), miss some rows on most steps, and never touch the last rows of either table.

Writing the golden needs torch 2.13.0; run from the repository root:

    python -m tests.make_sparse_golden      # writes tests/golden/sparse_adam_embedding.npz

Importing this module needs only numpy: torch is imported inside :func:`torch_run`.
"""

from __future__ import annotations

import pathlib

import numpy as np

from tests.algorithm_table import ALGORITHMS_BY_NAME, TorchTensor

GOLDEN_PATH = pathlib.Path(__file__).parent / "golden" / "sparse_adam_embedding.npz"
INFO = ALGORITHMS_BY_NAME["sparse_adam"]
STEPS = 30
DTYPES = ("float64", "float32")
# torch's CPU configurations for SparseAdam, then extras.
CONFIGS: tuple[dict, ...] = (
    {},
    {"lr": 0.01},
    {"lr": TorchTensor(0.001)},
    {"maximize": True},
    {"lr": 4e-2, "betas": (0.8, 0.95), "eps": 1e-6},  # lr of torch's sparse tests
)
BAG_OFFSETS = np.array([0, 3, 7, 9])
BAG_SEGMENTS = np.repeat(np.arange(4), np.diff([*BAG_OFFSETS, 12]))  # the bag of each of the 12 ids
NEVER_LOOKED_UP = {"bag": [7, 8, 9], "emb": [6, 7]}


def initial_tables() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2024)
    return {"bag": rng.normal(size=(10, 3)), "emb": rng.normal(size=(8, 3))}


def step_data() -> dict[str, np.ndarray]:
    """Per step: ``bag_ids`` (12,), ``emb_ids`` (4, 2) and ``targets`` (4,); and the fixed ``head`` (3,)."""
    rng = np.random.default_rng(7)
    return {
        "bag_ids": rng.integers(0, 7, size=(STEPS, 12)),
        "emb_ids": rng.integers(0, 6, size=(STEPS, 4, 2)),
        "targets": rng.normal(size=(STEPS, 4)),
        "head": rng.normal(size=(3,)),
    }


def loss(bag_out, emb_out, target, head, xp):
    """``mean((tanh(bag + sum of the 2 embeddings) @ head - target)^2)`` in namespace ``xp``."""
    hidden = xp.tanh(bag_out + emb_out.sum(1))
    return ((hidden @ head - target) ** 2).mean()


def looked_up(step: int) -> dict[str, np.ndarray]:
    """The rows of each table that step ``step`` (0-based) names in its gradient."""
    data = step_data()
    return {"bag": np.unique(data["bag_ids"][step]), "emb": np.unique(data["emb_ids"][step])}


def torch_run(config: dict, dtype: str, steps: int = STEPS) -> dict[str, np.ndarray]:
    """torch.optim.SparseAdam on the problem: ``{table: (steps + 1, *shape)}`` params, then the final state."""
    import torch

    from tests.torch_reference import torch_kwargs

    torch_dtype = getattr(torch, dtype)
    tables = {k: torch.tensor(v, dtype=torch_dtype) for k, v in initial_tables().items()}
    bag = torch.nn.EmbeddingBag.from_pretrained(tables["bag"], freeze=False, mode="sum", sparse=True)
    emb = torch.nn.Embedding.from_pretrained(tables["emb"], freeze=False, sparse=True)
    weights = {"bag": bag.weight, "emb": emb.weight}
    optimizer = torch.optim.SparseAdam(list(weights.values()), **torch_kwargs(config))
    data = step_data()
    head = torch.tensor(data["head"], dtype=torch_dtype)
    history = {k: [w.detach().numpy().copy()] for k, w in weights.items()}
    for t in range(steps):
        optimizer.zero_grad()
        bag_out = bag(torch.tensor(data["bag_ids"][t]), torch.tensor(BAG_OFFSETS))
        emb_out = emb(torch.tensor(data["emb_ids"][t]))
        loss(bag_out, emb_out, torch.tensor(data["targets"][t], dtype=torch_dtype), head, torch).backward()
        optimizer.step()
        for k, w in weights.items():
            history[k].append(w.detach().numpy().copy())
    result = {k: np.stack(v) for k, v in history.items()}
    for k, w in weights.items():
        state = optimizer.state[w]
        result[f"state|step|{k}"] = np.asarray(state["step"])
        result[f"state|exp_avg|{k}"] = state["exp_avg"].numpy().copy()
        result[f"state|exp_avg_sq|{k}"] = state["exp_avg_sq"].numpy().copy()
    return result


def write() -> pathlib.Path:
    import torch

    arrays = {"torch_version": np.asarray(torch.__version__)}
    for config in CONFIGS:
        for dtype in DTYPES:
            for key, values in torch_run(config, dtype).items():
                arrays[f"{INFO.config_id(config)}|{dtype}|{key}"] = values
    GOLDEN_PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN_PATH, **arrays)
    return GOLDEN_PATH


if __name__ == "__main__":
    print("wrote", write())

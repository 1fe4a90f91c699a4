"""Optimizer-step benchmark: functional_optim vs optax vs torch.optim, measured in one run.

    python -m benchmarks            # full suite (needs optax and torch==2.13.0 for the comparisons)
    python -m benchmarks --quick    # 10x smaller problems, fewer repeats
    python -m benchmarks --algorithms adam --cases tiny

For each algorithm and case it times, in the same process: functional_optim's jitted
functional step (update + apply, buffers donated), its torch-style wrapper's ``step()``,
optax's equivalent (jit + donation) and torch.optim's for-loop, foreach and fused
implementations (where torch has them). It prints medians, the effective bandwidth (the
algorithm's minimum bytes per parameter x params / time), that bandwidth as a fraction of a
streaming probe (``a += s * b``) measured in the same run, and ratios against optax and torch
fused. It also reports the compiled step's peak memory per parameter (XLA's memory analysis of
the donated step: arguments + temporaries + outputs not aliased to an argument) and the compile
time of Adam over 10 to 2000 leaves. Results go to ``benchmarks/results/`` as JSON and markdown.
A benchmark, not a test: ratios within one run are what count.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pathlib
import platform
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import functional_optim as fo

RESULTS_DIR = pathlib.Path(__file__).parent / "results"


@dataclasses.dataclass(frozen=True)
class Algorithm:
    name: str
    bytes_per_param: int  # minimum traffic in float32: reads + writes of params, grads and state
    functional: Callable[[], fo.GradientTransformation]
    optax_factory: Callable[[], object] | None
    torch_name: str  # also the name of functional_optim.optim's class
    torch_kwargs: dict
    torch_fused: bool


def _optax():
    import optax

    return optax


ALGORITHMS = {
    "adam": Algorithm("adam", 28, lambda: fo.adam(1e-3), lambda: _optax().adam(1e-3), "Adam", {"lr": 1e-3}, True),
    "adamw": Algorithm(
        "adamw",
        28,
        lambda: fo.adamw(1e-3),
        lambda: _optax().adamw(1e-3, weight_decay=1e-2),
        "AdamW",
        {"lr": 1e-3},
        True,
    ),
    "sgd_momentum": Algorithm(
        "sgd_momentum",
        20,
        lambda: fo.sgd(1e-2, momentum=0.9),
        lambda: _optax().sgd(1e-2, momentum=0.9),
        "SGD",
        {"lr": 1e-2, "momentum": 0.9},
        True,
    ),
    "rmsprop": Algorithm(
        "rmsprop",
        20,
        lambda: fo.rmsprop(1e-2),
        lambda: _optax().rmsprop(1e-2, decay=0.99, eps=1e-8),
        "RMSprop",
        {"lr": 1e-2},
        False,
    ),
    "adagrad": Algorithm(
        "adagrad", 20, lambda: fo.adagrad(1e-2), lambda: _optax().adagrad(1e-2), "Adagrad", {"lr": 1e-2}, True
    ),
}


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    shapes: tuple[tuple[int, ...], ...]
    dtype: str = "float32"

    @property
    def num_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes)


def cases(quick: bool) -> dict[str, Case]:
    scale = 10 if quick else 1
    mlp = ((64, 256), (256,), (256, 128), (128,), (128, 10), (10,))  # ~50k params, 6 leaves
    return {
        "large": Case("large", tuple((10_000_000 // scale,) for _ in range(10))),
        "large_bf16": Case("large_bf16", tuple((10_000_000 // scale,) for _ in range(10)), "bfloat16"),
        "many_leaves": Case("many_leaves", tuple((20_000 // scale,) for _ in range(500))),
        "tiny": Case("tiny", mlp),
    }


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_tree(case: Case, seed: int) -> list[jax.Array]:
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal(s, dtype=np.float32), case.dtype) for s in case.shapes]


def time_jax_transform(tx, case: Case, repeats: int) -> float:
    """A jitted ``update + apply_updates`` with params and state donated, as a training loop runs it."""
    params, grads = make_tree(case, 0), make_tree(case, 1)
    state = tx.init(params)

    @jax.jit
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state

    step = jax.jit(step, donate_argnums=(0, 1))
    box = [params, state]

    def run():
        box[0], box[1] = step(box[0], box[1], grads)
        jax.block_until_ready(box[0])

    return median_seconds(run, repeats)


def time_wrapper(algorithm: Algorithm, case: Case, repeats: int) -> float:
    """``optimizer.step()`` of functional_optim.optim's class over Parameters with grads set."""
    params = fo.parameters(make_tree(case, 0))
    for p, g in zip(params, make_tree(case, 1)):
        p.grad = g
    optimizer = getattr(fo.optim, algorithm.torch_name)(params, **algorithm.torch_kwargs)

    def run():
        optimizer.step()
        jax.block_until_ready(params[0].data)

    return median_seconds(run, repeats)


def peak_bytes_per_param(tx, case: Case) -> float:
    """The donated step's peak memory per parameter, from XLA's memory analysis of the compiled step.

    Arguments (params, state, grads) + temporaries + outputs that do not reuse an argument's buffer.
    """
    params = make_tree(case, 0)
    state = tx.init(params)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state

    memory = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, params).compile().memory_analysis()
    total = (
        memory.argument_size_in_bytes
        + memory.temp_size_in_bytes
        + memory.output_size_in_bytes
        - memory.alias_size_in_bytes
    )
    return total / case.num_params


def time_torch(algorithm: Algorithm, case: Case, impl: str, repeats: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if impl == "fused" and not algorithm.torch_fused:
        return None
    dtype = getattr(torch, case.dtype)
    params = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in case.shapes]
    for p in params:
        p.grad = torch.randn(p.shape, dtype=dtype)
    flags = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[impl]
    optimizer = getattr(torch.optim, algorithm.torch_name)(params, **algorithm.torch_kwargs, **flags)
    return median_seconds(optimizer.step, repeats)


def streaming_probe(num_floats: int, repeats: int) -> float:
    """GB/s of ``a += s * b`` in float32 (read a, b; write a = 12 bytes per element)."""
    try:
        import torch

        a, b = torch.zeros(num_floats), torch.ones(num_floats)
        seconds = median_seconds(lambda: a.add_(b, alpha=0.5), repeats)
    except ImportError:
        axpy = jax.jit(lambda a, b: a + 0.5 * b, donate_argnums=0)
        box = [jnp.zeros(num_floats), jnp.ones(num_floats)]

        def run():
            box[0] = axpy(box[0], box[1])
            box[0].block_until_ready()

        seconds = median_seconds(run, repeats)
    return 12 * num_floats / seconds / 1e9


def compile_seconds(tx, case: Case) -> float:
    params = make_tree(case, 0)
    state = tx.init(params)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state

    start = time.perf_counter()
    jax.jit(step, donate_argnums=(0, 1)).lower(params, state, params).compile()
    return time.perf_counter() - start


def environment() -> dict:
    info = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0].device_kind),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", ""),
    }
    try:
        import optax

        info["optax"] = optax.__version__
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--algorithms", nargs="*", default=list(ALGORITHMS))
    parser.add_argument("--cases", nargs="*", default=["large", "large_bf16", "many_leaves", "tiny"])
    args = parser.parse_args()
    repeats = 5 if args.quick else 20
    all_cases = cases(args.quick)

    probe = streaming_probe(all_cases["large"].num_params, repeats)
    print(f"streaming probe (a += s*b, float32): {probe:.1f} GB/s")
    rows = []
    for algorithm_name in args.algorithms:
        algorithm = ALGORITHMS[algorithm_name]
        for case_name in args.cases:
            case = all_cases[case_name]
            if case.dtype != "float32" and algorithm_name not in ("adam", "sgd_momentum"):
                continue
            row = {"algorithm": algorithm_name, "case": case_name, "params": case.num_params, "dtype": case.dtype}
            row["functional"] = time_jax_transform(algorithm.functional(), case, repeats)
            row["wrapper"] = time_wrapper(algorithm, case, repeats)
            row["functional_peak_bytes_per_param"] = peak_bytes_per_param(algorithm.functional(), case)
            try:
                row["optax"] = time_jax_transform(algorithm.optax_factory(), case, repeats)
                row["optax_peak_bytes_per_param"] = peak_bytes_per_param(algorithm.optax_factory(), case)
            except ImportError:
                row["optax"] = row["optax_peak_bytes_per_param"] = None
            for impl in ("forloop", "foreach", "fused"):
                row[f"torch_{impl}"] = time_torch(algorithm, case, impl, repeats)
            bytes_per_param = algorithm.bytes_per_param * np.dtype(jnp.dtype(case.dtype)).itemsize // 4
            row["functional_gbps"] = bytes_per_param * case.num_params / row["functional"] / 1e9
            row["fraction_of_probe"] = row["functional_gbps"] / probe
            row["vs_optax"] = row["functional"] / row["optax"] if row["optax"] else None
            row["vs_torch_fused"] = row["functional"] / row["torch_fused"] if row["torch_fused"] else None
            row["wrapper_vs_functional"] = row["wrapper"] / row["functional"]
            row["wrapper_vs_torch_fused"] = row["wrapper"] / row["torch_fused"] if row["torch_fused"] else None
            rows.append(row)
            print(format_row(row))
    compiles = {}
    for leaves in (10, 100, 500) if args.quick else (10, 100, 500, 2000):
        compile_case = Case(f"{leaves} leaves", tuple((20_000,) for _ in range(leaves)))
        compiles[leaves] = {"functional_adam": compile_seconds(fo.adam(1e-3), compile_case)}
        with contextlib.suppress(ImportError):
            compiles[leaves]["optax_adam"] = compile_seconds(_optax().adam(1e-3), compile_case)
        print(f"compile, {leaves}-leaf Adam:", ", ".join(f"{k} {v:.2f} s" for k, v in compiles[leaves].items()))
    write_results(rows, compiles, probe, args.quick)


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.3f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


HEADER = (
    "| algorithm | case | functional ms | wrapper ms | optax ms | torch for-loop ms | torch foreach ms "
    "| torch fused ms | functional GB/s | of probe | vs optax | vs torch fused | wrapper / functional "
    "| wrapper / torch fused | peak B/param (optax) |"
)


def format_row(row: dict) -> str:
    optax_peak = row["optax_peak_bytes_per_param"]
    return (
        f"| {row['algorithm']} | {row['case']} | {_ms(row['functional'])} | {_ms(row['wrapper'])} "
        f"| {_ms(row['optax'])} | {_ms(row['torch_forloop'])} | {_ms(row['torch_foreach'])} "
        f"| {_ms(row['torch_fused'])} | {row['functional_gbps']:.1f} | {row['fraction_of_probe']:.0%} "
        f"| {_ratio(row['vs_optax'])} | {_ratio(row['vs_torch_fused'])} | {_ratio(row['wrapper_vs_functional'])} "
        f"| {_ratio(row['wrapper_vs_torch_fused'])} | {row['functional_peak_bytes_per_param']:.1f} "
        f"({'—' if optax_peak is None else f'{optax_peak:.1f}'}) |"
    )


def write_results(rows: list[dict], compiles: dict, probe: float, quick: bool) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    stem = "quick" if quick else "full"
    env = environment()
    (RESULTS_DIR / f"{stem}.json").write_text(
        json.dumps({"environment": env, "probe_gbps": probe, "rows": rows, "compile_seconds": compiles}, indent=2)
    )
    lines = [
        f"Machine: {env['cpus']} CPUs ({env['machine']}), jax {env['jax']}, optax {env.get('optax', '—')}, "
        f"torch {env.get('torch', '—')}; streaming probe {probe:.1f} GB/s.",
        "",
        HEADER,
        "|---" * (HEADER.count("|") - 1) + "|",
        *(format_row(r) for r in rows),
        "",
        "| compile, Adam, leaves of 20k params | functional s | optax s | functional / optax |",
        "|---|---|---|---|",
        *(
            f"| {leaves} | {c['functional_adam']:.2f} | {c['optax_adam']:.2f} "
            f"| {c['functional_adam'] / c['optax_adam']:.2f}× |"
            if "optax_adam" in c
            else f"| {leaves} | {c['functional_adam']:.2f} | — | — |"
            for leaves, c in compiles.items()
        ),
    ]
    (RESULTS_DIR / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS_DIR / stem}.json and .md")


if __name__ == "__main__":
    main()

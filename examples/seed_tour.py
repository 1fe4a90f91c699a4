"""A tour of torch.optim's introduction, snippet by snippet, in JAX with functional_optim.

    python examples/seed_tour.py          # full run
    python examples/seed_tour.py --quick  # fewer epochs (CI)

Every section prints the torch code it ports, then runs its functional_optim counterpart on a
small classifier (a "base" of two tanh layers and a "classifier" layer) over a toy data set of
three Gaussian blobs, and prints what it did. The model's parameters are a plain pytree of
arrays; ``fo.parameters`` turns it into the same tree of mutable ``fo.Parameter`` s, which
play the role of torch's ``model.parameters()``.
"""

from __future__ import annotations

import argparse
import textwrap

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim.optim import lr_scheduler

# -- the model and the data (what torch's snippets call `model`, `dataset`, `loss_fn`) ------------


def dense(key: jax.Array, n_in: int, n_out: int) -> dict[str, jax.Array]:
    return {"w": jax.random.normal(key, (n_in, n_out)) / jnp.sqrt(n_in), "b": jnp.zeros(n_out)}


def init_model(key: jax.Array) -> dict:
    k1, k2, k3 = jax.random.split(key, 3)
    return {"base": [dense(k1, 2, 32), dense(k2, 32, 32)], "classifier": dense(k3, 32, 3)}


def model(params: dict, x: jax.Array) -> jax.Array:
    for layer in params["base"]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params["classifier"]["w"] + params["classifier"]["b"]


def loss_fn(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Cross-entropy of the model's logits, as torch's ``nn.CrossEntropyLoss()``."""
    logits = model(params, x)
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0])


def make_dataset(key: jax.Array, batches: int = 8, batch_size: int = 32) -> list[tuple[jax.Array, jax.Array]]:
    """Three Gaussian blobs in 2-D, as a list of ``(input, target)`` batches."""
    centres = jnp.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.5]])
    k1, k2 = jax.random.split(key)
    y = jax.random.randint(k1, (batches, batch_size), 0, 3)
    x = centres[y] + 0.6 * jax.random.normal(k2, (batches, batch_size, 2))
    return list(zip(x, y))


def section(title: str, torch_code: str) -> None:
    print(f"\n## {title}\n   torch:")
    print(textwrap.indent(textwrap.dedent(torch_code).strip(), "     "))


def train(optimizer: fo.optim.Optimizer, params, dataset, epochs: int) -> float:
    """torch's basic loop: zero_grad, forward, backward, step; returns the last epoch's mean loss."""
    for _ in range(epochs):
        total = 0.0
        for input, target in dataset:
            optimizer.zero_grad()
            loss = fo.backward(loss_fn, params, input, target)  # output = model(input); loss.backward()
            optimizer.step()
            total += float(loss)
    return total / len(dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer epochs")
    quick = parser.parse_args().quick
    epochs = 2 if quick else 20
    dataset = make_dataset(jax.random.key(1))
    arrays = init_model(jax.random.key(0))

    # 1. Constructing an optimizer from model.parameters() -------------------------------------
    section(
        "an optimizer over all of a model's parameters",
        "optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)",
    )
    params = fo.parameters(arrays)  # the model's tree, with an fo.Parameter at every leaf
    optimizer = fo.optim.SGD(fo.parameter_list(params), lr=0.01, momentum=0.9)
    first = sum(float(loss_fn(arrays, *batch)) for batch in dataset) / len(dataset)  # mean batch loss at the start
    last = train(optimizer, params, dataset, epochs)
    print(f"   here: {len(fo.parameter_list(params))} Parameters, loss {first:.4f} -> {last:.4f} after {epochs} epochs")

    # 2. Parameters that are not in a model ----------------------------------------------------
    section("an optimizer over a list of tensors", "optimizer = optim.Adam([var1, var2], lr=0.0001)")
    var1, var2 = fo.Parameter(jnp.ones(3)), fo.Parameter(jnp.zeros((2, 2)))
    optimizer = fo.optim.Adam([var1, var2], lr=0.0001)
    optimizer.zero_grad()
    fo.backward(lambda v: jnp.sum(v[0] ** 2) + jnp.sum((v[1] - 1) ** 2), [var1, var2])
    optimizer.step()
    print(f"   here: after one step var1 = {var1.data}, var1's state keys {list(optimizer.state[var1])}")

    # 3. Named parameters ----------------------------------------------------------------------
    section("named parameters", "optimizer = optim.SGD(model.named_parameters(), lr=0.01, momentum=0.9)")
    params = fo.parameters(arrays)
    optimizer = fo.optim.SGD(fo.named_parameter_list(params), lr=0.01, momentum=0.9)
    print(f"   here: param_names {optimizer.param_groups[0]['param_names']}")

    # 4. Per-parameter options -----------------------------------------------------------------
    section(
        "per-parameter options (parameter groups)",
        """
        optim.SGD([
            {'params': model.base.parameters(), 'lr': 1e-2},
            {'params': model.classifier.parameters()}
        ], lr=1e-3, momentum=0.9)
        """,
    )
    params = fo.parameters(arrays)
    optimizer = fo.optim.SGD(
        [
            {"params": fo.parameter_list(params["base"]), "lr": 1e-2},
            {"params": fo.parameter_list(params["classifier"])},
        ],
        lr=1e-3,
        momentum=0.9,
    )
    for i, group in enumerate(optimizer.param_groups):
        print(f"   here: group {i}: {len(group['params'])} Parameters, lr={group['lr']}, momentum={group['momentum']}")
    last = train(optimizer, params, dataset, epochs)
    print(f"   trained {epochs} epochs: loss {last:.4f}")

    # 5. Taking an optimization step -----------------------------------------------------------
    section(
        "the optimization step: optimizer.step()",
        """
        for input, target in dataset:
            optimizer.zero_grad()
            output = model(input)
            loss = loss_fn(output, target)
            loss.backward()
            optimizer.step()
        """,
    )
    params = fo.parameters(arrays)
    optimizer = fo.optim.SGD(fo.parameter_list(params), lr=0.1, momentum=0.9)
    losses = []
    for input, target in dataset:
        optimizer.zero_grad()
        loss = fo.backward(loss_fn, params, input, target)  # loss_fn(model(input), target) and .backward()
        optimizer.step()
        losses.append(float(loss))
    print(f"   here: one epoch, batch losses {' '.join(f'{v:.3f}' for v in losses)}")

    # 6. step(closure) -------------------------------------------------------------------------
    section(
        "the optimization step: optimizer.step(closure)",
        """
        for input, target in dataset:
            def closure():
                optimizer.zero_grad()
                output = model(input)
                loss = loss_fn(output, target)
                loss.backward()
                return loss
            optimizer.step(closure)
        """,
    )
    params = fo.parameters(arrays)
    optimizer = fo.optim.SGD(fo.parameter_list(params), lr=0.1, momentum=0.9)
    losses = []
    for input, target in dataset:

        def closure(input=input, target=target):
            optimizer.zero_grad()
            return fo.backward(loss_fn, params, input, target)

        losses.append(float(optimizer.step(closure)))  # step returns the closure's loss
    print(f"   here: one epoch, batch losses {' '.join(f'{v:.3f}' for v in losses)}")

    # 7. Adjusting the learning rate: LambdaLR with one lambda per group -----------------------
    section(
        "LambdaLR with a lambda per parameter group",
        """
        lambda1 = lambda epoch: epoch // 30
        lambda2 = lambda epoch: 0.95 ** epoch
        scheduler = LambdaLR(optimizer, lr_lambda=[lambda1, lambda2])
        for epoch in range(100):
            train(...)
            validate(...)
            scheduler.step()
        """,
    )
    params = fo.parameters(arrays)
    optimizer = fo.optim.SGD(
        [
            {"params": fo.parameter_list(params["base"]), "lr": 1e-2},
            {"params": fo.parameter_list(params["classifier"])},
        ],
        lr=1e-3,
        momentum=0.9,
    )
    scheduler = lr_scheduler.LambdaLR(optimizer, lr_lambda=[lambda epoch: epoch // 30, lambda epoch: 0.95**epoch])
    n_epochs = 3 if quick else 61
    for epoch in range(n_epochs):
        lrs = scheduler.get_last_lr()
        loss = train(optimizer, params, dataset[:2], 1)
        if epoch in (0, 1, 2, 29, 30, 60):
            print(f"   here: epoch {epoch:2d}: lrs (base, classifier) = ({lrs[0]:.4g}, {lrs[1]:.4g}), loss {loss:.4f}")
        scheduler.step()

    # 8. Chaining schedulers -------------------------------------------------------------------
    section(
        "two schedulers stepped one after the other",
        """
        scheduler1 = ExponentialLR(optimizer, gamma=0.9)
        scheduler2 = MultiStepLR(optimizer, milestones=[30, 80], gamma=0.1)
        for epoch in range(20):
            ...
            scheduler1.step()
            scheduler2.step()
        """,
    )
    params = fo.parameters(arrays)
    optimizer = fo.optim.SGD(fo.parameter_list(params), lr=0.1)
    scheduler1 = lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    scheduler2 = lr_scheduler.MultiStepLR(optimizer, milestones=[3, 6], gamma=0.1)
    lrs = []
    for _ in range(8):
        train(optimizer, params, dataset[:1], 1)
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler1.step()
        scheduler2.step()
    print(f"   here (milestones=[3, 6] to keep it short): lrs {' '.join(f'{v:.3g}' for v in lrs)}")

    # 9. Adam against RMSprop on the same network ----------------------------------------------
    section(
        "two algorithms on the same network",
        """
        optimizer = optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
        optimizer = optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9)
        """,
    )
    for name, make in [
        ("Adam(betas=(0.9, 0.99))", lambda ps: fo.optim.Adam(ps, lr=1e-3, betas=(0.9, 0.99))),
        ("RMSprop(alpha=0.9)     ", lambda ps: fo.optim.RMSprop(ps, lr=1e-3, alpha=0.9)),
    ]:
        params = fo.parameters(arrays)  # the same initial weights for both
        last = train(make(fo.parameter_list(params)), params, dataset, epochs)
        print(f"   here: {name} loss after {epochs} epochs: {last:.4f}")


if __name__ == "__main__":
    main()

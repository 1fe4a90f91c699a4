"""Placeholder: being implemented."""


def adagrad(*args, **kwargs):
    raise NotImplementedError("adagrad")

"""Placeholder: being implemented."""


def adadelta(*args, **kwargs):
    raise NotImplementedError("adadelta")

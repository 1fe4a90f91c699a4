"""Placeholder: being implemented."""


def muon(*args, **kwargs):
    raise NotImplementedError("muon")

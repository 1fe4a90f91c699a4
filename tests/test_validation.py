"""Every argument torch rejects at construction is rejected here, with torch's message."""

from __future__ import annotations

import re

import pytest

from tests.algorithm_table import ERROR_CASES
from tests.runner import jax_kwargs, make_transform

IDS = [f"{info.name}[{info.config_id(error.kwargs)}]" for info, error in ERROR_CASES]


@pytest.mark.parametrize(("info", "error"), ERROR_CASES, ids=IDS)
def test_invalid_argument_raises_torchs_error(info, error):
    with pytest.raises(error.error, match=re.escape(error.match)):
        make_transform(info, error.kwargs)


@pytest.mark.parametrize(("info", "error"), ERROR_CASES, ids=IDS)
def test_live_torch_raises_the_same_error(info, error):
    torch_reference = pytest.importorskip("tests.torch_reference", reason="needs torch to check the table against it")
    import torch

    param = torch.zeros((2, 2), requires_grad=True)
    with pytest.raises(error.error, match=re.escape(error.match)):
        getattr(torch.optim, info.torch_name)([param], **torch_reference.torch_kwargs(error.kwargs))


@pytest.mark.parametrize(("info", "error"), ERROR_CASES, ids=IDS)
def test_error_names_the_argument(info, error):
    with pytest.raises(error.error) as raised:
        make_transform(info, error.kwargs)
    message = str(raised.value)
    assert any(name in message for name in jax_kwargs(error.kwargs)), message

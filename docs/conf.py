"""Sphinx configuration of functional_optim's documentation.

Build (warnings are errors, as in CI)::

    pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import importlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import functional_optim  # noqa: E402

project = "functional_optim"
author = "functional_optim contributors"
copyright = "functional_optim contributors"
release = functional_optim.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# Google-style docstrings; "Attributes:" sections become fields, so that a NamedTuple's
# fields are not described twice.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
myst_heading_anchors = 3

html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "torch.optim, rebuilt the JAX way", "fixed_sidebar": True}

# Every public name must appear in the API pages: a name added to an ``__all__`` without
# documentation fails the (-W) build.
PUBLIC_MODULES = [
    "functional_optim",
    "functional_optim.optim",
    "functional_optim.optim.functional",
    "functional_optim.optim.lr_scheduler",
    "functional_optim.optim.swa_utils",
    "functional_optim.averaging",
    "functional_optim.schedules",
]


def _check_public_names_documented(app) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    pages = "\n".join(path.read_text() for path in (pathlib.Path(app.srcdir) / "api").glob("*.rst"))
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        documented_module = f"automodule:: {module_name}\n   :members:" in pages
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type(functional_optim)):  # a submodule, documented on its own
                continue
            if documented_module:
                continue
            if f":: {name}\n" not in pages and f":: {module_name}.{name}\n" not in pages:
                logger.warning(f"{module_name}.{name} is public (in __all__) but no page under docs/api documents it")


def setup(app) -> None:
    app.connect("builder-inited", _check_public_names_documented)

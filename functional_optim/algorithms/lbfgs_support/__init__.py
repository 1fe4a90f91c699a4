"""What L-BFGS (:mod:`functional_optim.algorithms.lbfgs`) is built on, each concern in its module.

* :mod:`.torch_numbers`: torch's scalar arithmetic, where a number is a Python float or a 0-d
  tensor and rounds accordingly, traced on device.
* :mod:`.tree_vectors`: vectors as trees shaped like the params (never concatenated), rings of
  them, and torch's flat layout.
* :mod:`.curvature_memory`: the stored pairs in rings and the two-loop recursion.
* :mod:`.line_search`: torch's strong-Wolfe line search, with its cubic interpolation.
* :mod:`.state`: ``LBFGSState`` (torch's state keys) and ``LBFGSTransformation`` (with ``step``).
"""

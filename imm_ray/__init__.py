"""imm_ray: Induced Model Matching with Ray Tune sweeps and RLlib algorithms.

``from imm_ray import core`` gives the loss (pure PyTorch). The library builds on it
(``restricted``, ``tabular``, ``lm``, ``rl``, ``sweep``, ``analysis``); the experiments
(``imm_ray/experiments/``) build on the library (docs/architecture.md).
"""

import importlib

__all__ = ["core"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``imm_ray.core`` (and any submodule) imported on first use, not with the package:
    a sweep's ``--help`` and flag errors then run without importing torch."""
    try:
        return importlib.import_module(f"imm_ray.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"imm_ray.{name}":
            raise
        raise AttributeError(f"module 'imm_ray' has no attribute {name!r}") from None

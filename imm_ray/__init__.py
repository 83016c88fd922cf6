"""imm_ray: Induced Model Matching with Ray Tune sweeps and RLlib algorithms.

``from imm_ray import core`` gives the loss (pure PyTorch). The library builds on it
(``restricted``, ``tabular``, ``lm``, ``rl``, ``sweep``, ``analysis``); the experiments
(``imm_ray.experiments``) build on the library (docs/architecture.md).
"""

from imm_ray import core

__all__ = ["core"]
__version__ = "0.1.0"

"""imm_ray: Induced Model Matching with Ray Tune sweeps and RLlib algorithms.

``from imm_ray import core`` gives the loss (pure PyTorch); the experiment packages
(``imm_ray.toy``, ``imm_ray.lm``, ``imm_ray.rl``) and ``imm_ray.analysis`` build on it.
"""

from imm_ray import core

__all__ = ["core"]
__version__ = "0.1.0"

"""The experiments: one folder each (config, trainable, report, plots), built on the library
below (``imm_ray.core``, ``restricted``, ``tabular``, ``lm``, ``rl``, ``sweep``, ``analysis``).

Nothing outside this package imports it, and no experiment imports another
(docs/architecture.md; ``tests/test_layout.py`` reads the imports and checks both).
"""

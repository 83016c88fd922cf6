"""Every random stream of the lambda-vs-n experiment, from one place.

A stream is ``numpy.random.SeedSequence([stream id, seed])``: the same seed never repeats
data across streams, and a stream depends only on (stream, seed), never on the trial,
batch or worker it is drawn in. Ids 0-2 are the toy's train / valid / test samples (kept
from the first release, so the toy's datasets are unchanged); 3 permutes a table's rows
into its splits; 4 starts the MLP's weights; 5 draws the induced model's samples.
"""

from __future__ import annotations

import numpy as np

STREAMS = {"train": 0, "valid": 1, "test": 2, "split": 3, "init": 4, "induced": 5}


def seed_sequence(stream: str, seed: int) -> np.random.SeedSequence:
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {sorted(STREAMS)}, got {stream!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return np.random.SeedSequence([STREAMS[stream], int(seed)])


def rng(stream: str, seed: int) -> np.random.Generator:
    """The generator of one stream of one seed."""
    return np.random.default_rng(seed_sequence(stream, seed))

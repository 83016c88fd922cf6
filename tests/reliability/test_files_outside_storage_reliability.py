"""Issue 22, files outside the storage path: an RLlib Algorithm's log folder goes under the
trial's (or step 1's) folder, not ``~/ray_results/<time><random>``; the LM corpus
preparation keeps Hugging Face ``datasets``' cache under the documented token cache; a
quick sweep run with a fresh ``HOME`` writes nothing there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import clean_env

from imm_ray.lm import data as lmdata
from imm_ray.rl.logdir import LOGDIR_NAME, algorithm_logdir

ROOT = Path(__file__).resolve().parents[2]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_an_algorithm_built_in_the_context_logs_under_the_given_folder(tmp_path):
    """The Tune Trainable that RLlib's Algorithm is: its log folder (made with mkdtemp
    in ``~/ray_results`` when it has no Tune storage) goes to the folder given."""
    from ray import tune
    from ray.train.constants import DEFAULT_STORAGE_PATH

    class Probe(tune.Trainable):
        def step(self):
            return {"done": True}

    home_results = Path(DEFAULT_STORAGE_PATH)
    before = set(home_results.iterdir()) if home_results.is_dir() else set()
    with algorithm_logdir(tmp_path / LOGDIR_NAME):
        probe = Probe()
    try:
        assert Path(probe.logdir).parent == tmp_path / LOGDIR_NAME
    finally:
        probe.stop()
    after = set(home_results.iterdir()) if home_results.is_dir() else set()
    assert after == before


def test_the_hf_datasets_cache_goes_under_the_token_cache(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    for s in lmdata.SPLITS:
        (data / f"ptb.{s}.txt").write_text(" a b c a \n b c a b \n")
    cache = tmp_path / "cache"
    lmdata.prepare_corpus(data, cache)
    assert (cache / "hf_datasets").is_dir()
    assert listing(home) == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_grid_world_quick_with_a_fresh_home_writes_nothing_there(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(HOME=str(home))
    proc = subprocess.run([sys.executable, str(ROOT / "sweeps" / "rl_gridworld.py"), "--quick",
                           "--storage-path", str(tmp_path / "runs"), "--name", "q"],
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:]
    # Ray's own token-authentication credential for local clusters (Ray documents it at
    # ~/.ray/auth_token) is the one file; no ~/ray_results/<time><random> folders
    assert listing(home) in ([], [".ray", ".ray/auth_token"]), listing(home)
    assert list((tmp_path / "runs" / "q").rglob(LOGDIR_NAME))  # where they went instead
    assert set(os.listdir(tmp_path)) <= {"home", "runs"}

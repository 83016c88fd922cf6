"""Shared sweep wiring that needs no running Ray: flags, validation, naming, devices."""

import json
import time

import pytest

from imm_ray import sweep
from imm_ray.sweep import files


def parse(*argv, experiment="demo"):
    return sweep.sweep_parser("demo sweep", experiment).parse_args(list(argv))


def test_defaults_and_new_names_are_timestamped_and_validation_creates_nothing(tmp_path):
    storage = tmp_path / "runs"
    args = parse("--storage-path", str(storage))
    sweep.validate_common(args)
    assert args.name.startswith("demo_") and args.storage_path == str(storage.resolve())
    assert args.gpus_per_trial == 0 and args.cpus_per_trial == 1 and not args.resume
    assert not args.verbose
    assert sweep.experiment_uri(args) == f"{storage.resolve()}/{args.name}"
    assert not storage.exists()  # pure: the run step creates the folder


@pytest.mark.parametrize("flag,value,match", [
    ("--gpus-per-trial", "-1", "--gpus-per-trial must be a finite number >= 0"),
    ("--gpus-per-trial", "nan", "--gpus-per-trial must be a finite number >= 0"),
    ("--cpus-per-trial", "0", "--cpus-per-trial must be a finite number > 0"),
    ("--cpus-per-trial", "inf", "--cpus-per-trial must be a finite number > 0"),
    ("--max-failures", "-2", "--max-failures must be an integer >= 0"),
    ("--max-concurrent", "0", "--max-concurrent must be an integer >= 1"),
])
def test_bad_flags_name_the_flag(tmp_path, flag, value, match):
    with pytest.raises(ValueError, match=match):
        sweep.validate_common(parse(flag, value, "--storage-path", str(tmp_path)))


def test_unwritable_storage_path_fails_fast(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="--storage-path .* is not writable"):
        sweep.validate_common(parse("--storage-path", str(blocker / "sub")))


def test_resume_picks_the_newest_experiment(tmp_path):
    with pytest.raises(ValueError, match="--resume: no restorable demo_\\* experiment"):
        sweep.validate_common(parse("--resume", "--storage-path", str(tmp_path)))
    for name in ("demo_2026-01-01_00-00-00", "demo_2026-02-01_00-00-00",
                 "other_2027-01-01_00-00-00"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tuner.pkl").touch()  # what Tune writes when a sweep starts
    (tmp_path / "demo_2026-03-01_00-00-00").mkdir()  # reserved, died before Tuner.fit
    args = parse("--resume", "--storage-path", str(tmp_path))
    sweep.validate_common(args)
    assert args.name == "demo_2026-02-01_00-00-00"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "tuner.pkl").touch()
    args = parse("--resume", "--name", "mine", "--storage-path", str(tmp_path))
    sweep.validate_common(args)
    assert args.name == "mine"


def test_output_dir_is_the_local_experiment_folder(tmp_path):
    args = parse("--storage-path", str(tmp_path), "--name", "x")
    sweep.validate_common(args)
    assert sweep.output_dir(args) == tmp_path.resolve() / "x"


def test_names_differ_over_time(tmp_path):
    a = parse("--storage-path", str(tmp_path))
    sweep.validate_common(a)
    time.sleep(1.05)
    b = parse("--storage-path", str(tmp_path))
    sweep.validate_common(b)
    assert a.name != b.name


def test_sweeps_started_in_the_same_second_get_different_folders(tmp_path, monkeypatch):
    from imm_ray.sweep import flags

    monkeypatch.setattr(flags.time, "strftime", lambda fmt: "2026-01-01_00-00-00")
    names = []
    for _ in range(3):
        a = parse("--storage-path", str(tmp_path))
        sweep.validate_common(a)
        assert a.name == "demo_2026-01-01_00-00-00"  # the same until reserved
        sweep.reserve_experiment(a, {"cpu": 1})
        names.append(a.name)
        saved = json.loads((tmp_path / a.name / "sweep_args.json").read_text())
        assert saved["name"] == a.name and "_name_given" not in saved
    assert names == ["demo_2026-01-01_00-00-00", "demo_2026-01-01_00-00-00_01",
                     "demo_2026-01-01_00-00-00_02"]
    for name in names:
        (tmp_path / name / "tuner.pkl").touch()
    resumed = parse("--storage-path", str(tmp_path), "--resume")
    sweep.validate_common(resumed)
    assert resumed.name == names[-1]  # the newest, in name order


def test_an_explicit_name_is_reused_only_with_resume(tmp_path):
    first = parse("--storage-path", str(tmp_path), "--name", "x")
    sweep.validate_common(first)
    sweep.reserve_experiment(first, {"cpu": 1})
    sweep.validate_common(parse("--storage-path", str(tmp_path), "--name", "x"))  # no Tune yet
    (tmp_path / "x" / "tuner.pkl").touch()
    with pytest.raises(ValueError, match="--name x: .* already holds an experiment; pass --resume"):
        sweep.validate_common(parse("--storage-path", str(tmp_path), "--name", "x"))
    with pytest.raises(ValueError, match="--resume: nothing to restore at .*/y"):
        sweep.validate_common(parse("--storage-path", str(tmp_path), "--name", "y",
                                       "--resume"))


def test_files_round_trip_through_pyarrow_with_file_uris(tmp_path):
    """The same functions read and write cloud URIs (pyarrow.fs); file:// exercises them."""
    uri = f"file://{tmp_path}/exp/sweep_args.json"
    assert files.read_text(uri) is None and not files.is_file(uri)
    assert files.create_exclusive(str(tmp_path / "exp" / "sweep_args.json"), "{}")
    assert not files.create_exclusive(str(tmp_path / "exp" / "sweep_args.json"), "{}")
    files.write_text(uri, '{"a": 1}')
    assert files.read_text(uri) == '{"a": 1}' and files.is_file(uri)
    (tmp_path / "exp_2").mkdir()
    assert files.subfolders(f"file://{tmp_path}", "exp") == ["exp", "exp_2"]


def test_a_resume_keeps_the_original_sweep_args(tmp_path):
    first = parse("--storage-path", str(tmp_path), "--name", "x", "--max-failures", "5")
    sweep.validate_common(first)
    sweep.save_sweep_args(first, sweep.experiment_uri(first), {"cpu": 1})
    (tmp_path / "x" / "tuner.pkl").touch()
    again = parse("--storage-path", str(tmp_path), "--name", "x", "--resume")
    sweep.validate_common(again)
    sweep.save_sweep_args(again, sweep.experiment_uri(again), {"cpu": 1})
    folder = tmp_path / "x"
    assert json.loads((folder / "sweep_args.json").read_text())["max_failures"] == 5
    assert json.loads((folder / "sweep_args_resume.json").read_text())["resume"] is True


# --------------------------------------------------------------------------- resume


def resume_parser():
    p = sweep.sweep_parser("demo sweep", "demo")
    p.add_argument("--sizes", type=int, nargs="+", default=[2, 4])
    p.add_argument("--seeds", type=int, default=10)
    return p


def started(tmp_path, *argv):
    """A new sweep's args, with its sweep_args.json written as run_tuner does."""
    args = sweep.parse_sweep_args(resume_parser(), [*argv, "--storage-path", str(tmp_path)])
    sweep.save_sweep_args(args, sweep.experiment_uri(args), {"cpu": 1, "gpu": 0})
    (tmp_path / args.name / "tuner.pkl").write_text("")  # Tune started in it
    return args


def test_resume_uses_the_original_settings(tmp_path, capsys):
    started(tmp_path, "--sizes", "3", "5", "--seeds", "7")
    args = sweep.parse_sweep_args(resume_parser(),
                                     ["--resume", "--storage-path", str(tmp_path)])
    assert args.sizes == [3, 5] and args.seeds == 7
    assert "original settings" in capsys.readouterr().out


def test_resume_refuses_a_conflicting_flag_but_allows_runtime_ones(tmp_path, capsys):
    started(tmp_path, "--seeds", "7")
    with pytest.raises(SystemExit):
        sweep.parse_sweep_args(resume_parser(), ["--resume", "--seeds", "8",
                                                    "--storage-path", str(tmp_path)])
    assert "--seeds 8 (original 7)" in capsys.readouterr().err
    args = sweep.parse_sweep_args(resume_parser(), [
        "--resume", "--seeds", "7", "--max-failures", "5", "--storage-path", str(tmp_path)])
    assert args.seeds == 7 and args.max_failures == 5


def test_explicit_dests_ignores_defaults():
    p = resume_parser()
    p.set_defaults(seeds=3)
    assert sweep.explicit_dests(p, ["--sizes", "2"]) == {"sizes"}
    assert p.parse_args([]).seeds == 3  # defaults restored


def test_a_flag_given_twice_is_refused_naming_it(tmp_path, capsys):
    for argv, message in ((["--seeds", "3", "--seeds", "4"], "--seeds is given 2 times"),
                          (["--seeds=3", "--sizes", "2", "--seeds", "3"],
                           "--seeds is given 2 times"),
                          (["--resume", "--resume"], "--resume is given 2 times")):
        with pytest.raises(SystemExit):
            sweep.parse_sweep_args(resume_parser(), [*argv, "--storage-path", str(tmp_path)])
        assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before anything was written
    args = sweep.parse_sweep_args(resume_parser(), ["--seeds", "3", "--sizes", "2", "5",
                                                    "--storage-path", str(tmp_path)])
    assert args.seeds == 3 and args.sizes == [2, 5]


def test_require_unique_names_the_flag():
    from imm_ray.config import require_unique

    require_unique("--seeds", [0, 1, 2])
    with pytest.raises(ValueError, match=r"--seeds must not repeat a value; \[0\] repeated"):
        require_unique("--seeds", [0, 1, 0])


# --------------------------------------------------------------------------- rows


@pytest.mark.slow
def test_rows_and_resolved_config_round_trip_through_tune(tmp_path):
    import ray
    from ray import tune

    from imm_ray import analysis

    def _trial_with_rows(config):  # by value: workers cannot import tests
        from dataclasses import dataclass

        @dataclass
        class Resolved:
            x: int
            method: str = "imm"

        sweep.report({"score": float(config["x"])},
                        rows={"method": ["imm", "none"], "seed": [config["x"], config["x"]]},
                        resolved=Resolved(config["x"]))

    sweep.start_local_ray(num_cpus=1)
    try:
        grid = tune.Tuner(_trial_with_rows, param_space={"x": tune.grid_search([1, 2])},
                          run_config=tune.RunConfig(storage_path=str(tmp_path), name="rows",
                                                    verbose=0)).fit()
        for source in (grid, tmp_path / "rows"):
            rows = analysis.load_rows(source)
            assert sorted(rows.seed) == [1, 1, 2, 2]
            assert rows.method.tolist().count("imm") == 2 and rows.trial_id.nunique() == 2
        with grid[0].checkpoint.as_directory() as d:
            saved = json.loads((__import__("pathlib").Path(d) / "resolved_config.json")
                               .read_text())
        assert saved["method"] == "imm" and saved["x"] in (1, 2)
    finally:
        ray.shutdown()

"""``--config exp.yaml``: a sweep's settings from a YAML or JSON file, and the resolved
``config.yaml`` every run saves beside its results.

The file's keys are the sweep's flags spelled as their fields (``imm_lambdas`` or
``imm-lambdas``), so the experiment's dataclasses are its schema; values are checked by
the same code as the flags'. A flag given beside ``--config`` overrides the file; a key
that is no flag is an error naming the closest valid one. ``--config <experiment>/
config.yaml`` reruns a finished sweep with exactly its settings (in a new folder).
"""

from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path

CONFIG_FILE = "config.yaml"
NOT_SAVED = frozenset({"help", "config", "resume", "name"})
"""Keys a saved ``config.yaml`` leaves out: a rerun is a new sweep in a new folder."""


def valid_keys(parser: argparse.ArgumentParser) -> set[str]:
    """Every key a config file may set: each option's ``dest`` and the parser's defaults."""
    dests = {a.dest for a in parser._actions if a.option_strings}
    return (dests | set(parser._defaults)) - {"help", "config"}


def read_config_file(path: str) -> dict:
    """``{key: value}`` from a YAML (``.yaml``/``.yml``) or JSON file; ValueError naming
    ``--config`` on a missing file, a parse error or a top level that is not a mapping."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"--config {path!r}: no such file")
    text = file.read_text()
    try:
        if file.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text)
    except Exception as e:  # yaml.YAMLError / json.JSONDecodeError: one line, the position
        raise ValueError(f"--config {path!r} does not parse: {' '.join(str(e).split())}") \
            from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"--config {path!r} must hold a mapping of flag: value, got "
                         f"{type(values).__name__}")
    return {str(k).replace("-", "_"): v for k, v in values.items()}


def config_values(parser: argparse.ArgumentParser, argv=None) -> dict:
    """The checked keys of the ``--config`` file named in ``argv`` ({} when none)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    path = pre.parse_known_args(argv)[0].config
    if not path:
        return {}
    values = read_config_file(path)
    keys = valid_keys(parser)
    for key in values:
        if key not in keys:
            close = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r} (--{close[0].replace('_', '-')})?" \
                if close else ""
            raise ValueError(f"--config {path}: unknown key {key!r}{hint} (keys are the "
                             "sweep's flags, see --help)")
    return values


def apply_config(parser: argparse.ArgumentParser, argv=None) -> dict:
    """Make the ``--config`` file's values the parser's defaults, so flags given beside it
    win; returns them."""
    values = config_values(parser, argv)
    parser.set_defaults(**values)
    return values


def config_text(args: argparse.Namespace, script: str) -> str:
    """``config.yaml``'s text: every resolved setting (private ``_`` keys and
    :data:`NOT_SAVED` left out) and a comment with the command that reruns it."""
    import yaml

    record = {k: v for k, v in vars(args).items()
              if not k.startswith("_") and k not in NOT_SAVED}
    plain = json.loads(json.dumps(record, default=str))  # tuples -> lists, paths -> str
    head = (f"# The resolved settings of experiment {args.name}.\n"
            f"# Rerun it (a new folder, the same trials): python {script} --config "
            f"<this file>\n")
    return head + yaml.safe_dump(plain, sort_keys=False, default_flow_style=None, width=100)


def save_config(args: argparse.Namespace) -> str:
    """Write the resolved settings as ``config.yaml`` in the experiment folder (local or
    cloud; called by :func:`imm_ray.sweep.run_tuner` for a new sweep): ``--config <that
    file>`` reruns the sweep. Returns its path."""
    import os
    import sys

    from imm_ray.sweep import files
    from imm_ray.sweep.flags import experiment_uri

    script = sys.argv[0] if sys.argv[0].endswith(".py") else f"sweeps/{args.experiment}.py"
    path = files.join(experiment_uri(args), CONFIG_FILE)
    files.write_text(path, config_text(args, os.path.relpath(script)))
    return path

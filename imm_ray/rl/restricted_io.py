"""The exchange format of restricted policies: a folder anyone can load without pickle.

``<folder>/spec.json`` says what the network is; ``<folder>/weights.safetensors`` holds its
tensors (safetensors: a JSON header and raw tensor bytes, nothing executable)::

    {"format": "imm_ray.restricted_policy", "version": 1,
     "input_shape": [2], "num_actions": 2, "outputs": "logits",
     "layers": [{"linear": [2, 32]}, {"activation": "tanh"}, {"linear": [32, 32]},
                {"activation": "tanh"}, {"linear": [32, 2]}],
     "view": {"select": [2, 3]}}

The network is a plain MLP (``Linear`` and elementwise activations) mapping restricted
contexts ``[B, *input_shape]`` to action logits ``[B, num_actions]``; ``view`` is the
restricted view it was trained on (``select`` indices) or null.

``Box`` actions (``outputs: "gaussian"``): ``num_actions`` is the action dimension ``d``,
the network gives ``[B, 2 d]`` = ``(mean, log_std)`` of a diagonal Gaussian in the
RLModule's distribution coordinates (RLlib's ``TorchDiagGaussian`` inputs; ``units:
"policy"``), and ``action_space`` holds the bounds (``null`` for an infinite one)::

    {..., "num_actions": 1, "outputs": "gaussian", "units": "policy",
     "action_space": {"low": [-2.0], "high": [2.0]}, "layers": [..., {"linear": [64, 2]}]}

:func:`save_policy` exports an RLlib RLModule's policy path (its actor encoder and
``pi`` head, checked against the module's own ``forward_inference`` on random inputs) or
such an MLP;
:func:`load_policy` validates every field and every tensor's name, shape and finiteness.
The public faces are :func:`imm_ray.rl.restricted.save` / :func:`~imm_ray.rl.restricted.load`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

FORMAT, VERSION = "imm_ray.restricted_policy", 1
SPEC_FILE, WEIGHTS_FILE = "spec.json", "weights.safetensors"
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
               "silu": nn.SiLU, "gelu": nn.GELU}
MAX_SPEC_BYTES = 1 << 20


def is_saved_policy(path) -> bool:
    """True when ``path`` is a folder :func:`save_policy` wrote (it has ``spec.json``)."""
    return (Path(path) / SPEC_FILE).is_file()


def _layers_of(module: nn.Module) -> list[nn.Module]:
    """The Linear and activation leaves of ``module`` in call order (Sequential MLPs)."""
    kinds = (nn.Linear, *ACTIVATIONS.values())
    leaves = [m for m in module.modules() if not list(m.children())]
    bad = [type(m).__name__ for m in leaves if not isinstance(m, kinds)
           and not isinstance(m, (nn.Identity, nn.Dropout))]
    if bad:
        raise ValueError(f"restricted.save: the policy network has layers {bad}; the "
                         f"exchange format holds Linear layers and {sorted(ACTIVATIONS)}")
    return [m for m in leaves if isinstance(m, kinds)]


def _policy_net(policy) -> tuple[nn.Module, object]:
    """``(network obs -> logits, reference)``: ``reference(x)`` is what the network must
    reproduce (an RLModule's ``forward_inference`` logits), or None."""
    module = getattr(policy, "module", None) if not isinstance(policy, nn.Module) else policy
    if module is None and isinstance(getattr(policy, "fn", None), nn.Module):
        if getattr(policy, "outputs", "logits") != "logits":
            raise ValueError("restricted.save: from_module(..., outputs='probs') cannot be "
                             "saved; wrap a network that outputs logits")
        return policy.fn, None
    if module is None or not hasattr(module, "pi") or not hasattr(module, "encoder"):
        if isinstance(module, nn.Module):
            return module, None
        raise ValueError(f"restricted.save: needs an RLlib RLModule (or a policy from "
                         f"from_checkpoint / from_module(nn.Module) / load), got "
                         f"{type(policy).__name__}")
    enc = module.encoder
    actor = getattr(enc, "actor_encoder", None) or getattr(enc, "encoder", None)
    if actor is None:
        raise ValueError("restricted.save: the RLModule has no actor encoder")

    def reference(x):
        from ray.rllib.core.columns import Columns

        device = next(module.parameters()).device
        out = module.forward_inference({Columns.OBS: x.to(device)})
        return out[Columns.ACTION_DIST_INPUTS].float().cpu()

    return nn.Sequential(*_layers_of(actor), *_layers_of(module.pi)), reference


def save_policy(policy, path, *, input_shape, num_actions: int, view_spec,
                bounds: tuple[list, list] | None = None) -> Path:
    """Write ``policy``'s network to the folder ``path`` (made if missing); see module doc.
    ``bounds`` (a Box's ``(low, high)`` lists, ``None`` entries infinite) makes it a
    Gaussian policy of ``num_actions`` dimensions."""
    net, reference = _policy_net(policy)
    layers = _layers_of(net)
    spec_layers, tensors = [], {}
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            spec_layers.append({"linear": [layer.in_features, layer.out_features]})
            tensors[f"{i}.weight"] = layer.weight.detach().cpu().float().contiguous()
            bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_features)
            tensors[f"{i}.bias"] = bias.detach().cpu().float().contiguous()
        else:
            spec_layers.append({"activation": next(k for k, v in ACTIVATIONS.items()
                                                   if isinstance(layer, v))})
    spec = {"format": FORMAT, "version": VERSION, "input_shape": list(input_shape),
            "num_actions": int(num_actions), "outputs": "logits", "layers": spec_layers,
            "view": view_spec}
    if bounds is not None:
        spec.update(outputs="gaussian", units="policy",
                    action_space={"low": list(bounds[0]), "high": list(bounds[1])})
    rebuilt = build_net(check_spec(spec, "restricted.save"), tensors)
    if reference is not None:
        x = torch.randn(64, *input_shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            want = reference(x)
            if not torch.allclose(rebuilt(x), want, atol=1e-5, rtol=1e-5):
                raise ValueError("restricted.save: the module's policy is not a plain MLP "
                                 "of its actor encoder and pi head; cannot export it")
    out = Path(path).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    for name, write in ((WEIGHTS_FILE, lambda p: save_file(tensors, str(p))),
                        (SPEC_FILE, lambda p: p.write_text(json.dumps(spec, indent=1)))):
        tmp = out / f".{name}.tmp"
        write(tmp)
        os.replace(tmp, out / name)  # a reader never sees half a file
    return out


def check_spec(spec, where: str) -> dict:
    """ValueError naming ``where`` unless ``spec`` is a valid version-1 spec."""
    def need(ok, what):
        if not ok:
            raise ValueError(f"{where}: spec.json {what}")

    need(isinstance(spec, dict) and spec.get("format") == FORMAT, f"is not an {FORMAT} spec")
    need(spec.get("version") == VERSION, f"version must be {VERSION}, got "
                                         f"{spec.get('version')!r}")
    shape, a = spec.get("input_shape"), spec.get("num_actions")
    need(isinstance(shape, list) and len(shape) == 1 and _pos_int(shape[0]),
         f"input_shape must be [D] with D >= 1, got {shape!r}")
    need(_pos_int(a), f"num_actions must be an integer >= 1, got {a!r}")
    outputs = spec.get("outputs")
    need(outputs in ("logits", "gaussian"), f"outputs must be 'logits' or 'gaussian', got "
                                            f"{outputs!r}")
    if outputs == "gaussian":
        _check_gaussian(spec, a, need)
    layers, width = spec.get("layers"), shape[0]
    need(isinstance(layers, list) and layers, "layers must be a non-empty list")
    for layer in layers:
        if isinstance(layer, dict) and set(layer) == {"linear"}:
            io = layer["linear"]
            need(isinstance(io, list) and len(io) == 2 and all(map(_pos_int, io))
                 and io[0] == width, f"layer {layer!r} does not take width {width}")
            width = io[1]
        else:
            need(isinstance(layer, dict) and set(layer) == {"activation"}
                 and layer["activation"] in ACTIVATIONS, f"has an unknown layer {layer!r}")
    want = 2 * a if outputs == "gaussian" else a
    need(width == want, f"the last layer gives {width} outputs, not {want} (num_actions {a}"
                        f"{', mean and log_std' if outputs == 'gaussian' else ''})")
    view = spec.get("view")
    need(view is None or (isinstance(view, dict) and set(view) == {"select"}
                          and isinstance(view["select"], list) and view["select"]
                          and all(_pos_int(i + 1) for i in view["select"])),
         f"view must be null or {{'select': [indices]}}, got {view!r}")
    return spec


def _check_gaussian(spec: dict, d: int, need) -> None:
    """``units`` and the ``d``-dimensional ``action_space`` bounds of a Gaussian spec."""
    need(spec.get("units") == "policy", "units must be 'policy' (the RLModule's "
                                        "distribution coordinates)")
    box = spec.get("action_space")
    ok = isinstance(box, dict) and set(box) == {"low", "high"} and all(
        isinstance(box[k], list) and len(box[k]) == d and all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
            for v in box[k]) for k in ("low", "high"))
    need(ok, f"action_space must be {{'low': [{d} numbers or null], 'high': [...]}}, got "
             f"{box!r}")


def bounds_of(spec: dict) -> tuple[list[float], list[float]]:
    """A Gaussian spec's ``(low, high)`` with ``null`` as -inf / +inf."""
    box = spec["action_space"]
    return ([-float("inf") if v is None else float(v) for v in box["low"]],
            [float("inf") if v is None else float(v) for v in box["high"]])


def _pos_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 24


def build_net(spec: dict, tensors: dict) -> nn.Sequential:
    """The MLP of ``spec`` with ``tensors``; ValueError on a missing, extra, misshapen or
    non-finite tensor."""
    layers, want = [], {}
    for i, layer in enumerate(spec["layers"]):
        if "linear" in layer:
            d_in, d_out = layer["linear"]
            layers.append(nn.Linear(d_in, d_out))
            want[f"{i}.weight"], want[f"{i}.bias"] = (d_out, d_in), (d_out,)
        else:
            layers.append(ACTIVATIONS[layer["activation"]]())
    if set(tensors) != set(want):
        raise ValueError(f"weights: expected tensors {sorted(want)}, got {sorted(tensors)}")
    for name, shape in want.items():
        t = tensors[name]
        if tuple(t.shape) != shape or not t.is_floating_point() or not t.isfinite().all():
            raise ValueError(f"weights: tensor {name!r} must be finite floats of shape "
                             f"{shape}, got {t.dtype} {tuple(t.shape)}")
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for i, layer in enumerate(net):
            if isinstance(layer, nn.Linear):
                layer.weight.copy_(tensors[f"{i}.weight"])
                layer.bias.copy_(tensors[f"{i}.bias"])
    return net.eval().requires_grad_(False)


def load_policy(path) -> tuple[nn.Sequential, dict]:
    """``(network, spec)`` of the folder ``path``; ValueError naming ``path`` on anything
    missing, truncated or inconsistent. Never unpickles."""
    where = f"restricted policy {str(path)!r}"
    folder = Path(path).expanduser()
    spec_file, weights_file = folder / SPEC_FILE, folder / WEIGHTS_FILE
    for f in (spec_file, weights_file):
        if not f.is_file():
            raise ValueError(f"{where}: no {f.name} (not a folder restricted.save wrote)")
    if spec_file.stat().st_size > MAX_SPEC_BYTES:
        raise ValueError(f"{where}: spec.json is over {MAX_SPEC_BYTES} bytes")
    try:
        spec = json.loads(spec_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: spec.json is not valid JSON ({e})") from e
    check_spec(spec, where)
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(weights_file))
    except Exception as e:  # safetensors raises its own SafetensorError on a bad file
        raise ValueError(f"{where}: weights.safetensors is truncated or not a safetensors "
                         f"file ({type(e).__name__}: {e})") from e
    try:
        return build_net(spec, tensors), spec
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e

"""Restricted policies ``Pbar(a | view(obs))`` for the IMM term (``RestrictedModel`` protocol).

- :func:`save` ``(policy, path)`` / :func:`load` ``(path)``: the exchange format for
  sharing a restricted policy (:mod:`imm_ray.rl.restricted_io`: weights in safetensors, a
  JSON spec of the view, action count and network shape); loading it never unpickles.
- :func:`from_checkpoint` ``(path, trust_pickle=True)``: the action distribution of an
  RLModule in an RLlib checkpoint (an ``Algorithm.save_to_path`` folder, a learner's or an
  RLModule's), e.g. a PPO policy trained on
  :class:`~imm_ray.rl.views.RestrictedViewWrapper`. Evaluated without gradient, on the
  device of the contexts it is given (the learner's). RLlib checkpoints are cloudpickle
  files, and unpickling a crafted one runs code: without ``trust_pickle=True`` it is
  refused. Load only checkpoints you (or your sweep) wrote, and :func:`save` them to share.
- :func:`from_module` ``(fn, num_actions)``: any ``torch.nn.Module`` or callable mapping
  contexts ``[B, ...]`` to probabilities (or logits, ``outputs="logits"``) ``[B, A]``.
- The POMDP policies of :mod:`imm_ray.restricted.pomdp` (tables) implement the protocol
  already.

Continuous (``Box``) actions (``ContinuousRestrictedModel``: ``action_space``,
``sample(contexts, m) -> [B, m, *shape]``, ``mean(contexts)``): :func:`from_checkpoint`
of an RLModule with a ``Box`` action space draws from its action distribution in the
module's own (RLlib-normalised, ``units = "policy"``) coordinates;
:func:`imm_ray.rl.continuous.from_gaussian_module` ``(fn, action_space)`` wraps an
``nn.Module`` returning ``(mean, log_std)``, a ``torch.distributions`` object, or a
deterministic action ``[B, d]``, in environment units (``units = "env"``, mapped by the
learner).
:func:`check_continuous_setup` is their build-time check.

:func:`check_restricted_setup` is the build-time check every algorithm runs: the view fits
the observation space, the policy has the environment's action count, and the policy
accepts what the view produces (each message names both shapes).
"""

from __future__ import annotations

import functools
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from imm_ray.core import check_probs
from imm_ray.protocols import ContinuousRestrictedModel, RestrictedModel

MODULE_DIRS = ("learner_group/learner/rl_module/{m}", "learner/rl_module/{m}",
               "rl_module/{m}", "{m}", "")
"""Where an RLModule may sit under a checkpoint path (algorithm, learner, multi-module,
the module itself), most specific first."""


def find_module_dir(path: Path, module_id: str) -> Path:
    """The RLModule folder under an RLlib checkpoint ``path``; ValueError naming
    ``restricted_policy`` and the places looked in otherwise."""
    if not path.exists():
        raise ValueError(f"restricted_policy: no checkpoint at {str(path)!r} (path does not "
                         "exist)")
    tried = []
    for pattern in MODULE_DIRS:
        d = path / pattern.format(m=module_id) if pattern else path
        tried.append(str(d))
        if (d / "class_and_ctor_args.pkl").is_file() and (d / "module_state.pkl").is_file():
            return d
    raise ValueError(f"restricted_policy: {str(path)!r} holds no RLModule checkpoint of "
                     f"module {module_id!r}; looked in {tried}")


@functools.lru_cache(maxsize=8)
def load_module(module_dir: str, mtime: float):
    """``RLModule.from_checkpoint`` once per folder (and modification time) per process."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    return RLModule.from_checkpoint(module_dir).eval()


class ModulePolicy:
    """``softmax`` of an RLModule's ``ACTION_DIST_INPUTS`` (discrete actions).

    Loaded lazily from ``path`` (and again after unpickling: only the path travels to
    Ray workers, so on a multi-node cluster it must be on storage every node sees);
    moved to the contexts' device on first use there.
    """

    def __init__(self, path, module_id: str = "default_policy", *, trust_pickle=False):
        if trust_pickle is not True:
            raise ValueError(
                f"restricted_policy: {str(path)!r} would be loaded as an RLlib checkpoint, "
                "which unpickles files and can run code from them; pass trust_pickle=True "
                "only for a checkpoint you or your own run wrote. To share a policy, use "
                "imm_ray.rl.restricted.save(policy, path) and load(path) (no pickle).")
        self.path, self.module_id = Path(path).expanduser().resolve(), module_id
        self.module_dir = find_module_dir(self.path, module_id)
        self._module = None

    def __repr__(self) -> str:
        return f"from_checkpoint({str(self.path)!r})"

    def __getstate__(self):
        return {**self.__dict__, "_module": None}

    space_kind = gym.spaces.Discrete
    """The action space the module must have (``Box`` for :class:`ContinuousModulePolicy`)."""

    @property
    def module(self):
        if self._module is None:
            d = find_module_dir(self.path, self.module_id)  # still there?
            module = load_module(str(d), (d / "module_state.pkl").stat().st_mtime)
            if not isinstance(module.action_space, self.space_kind):
                raise ValueError(f"restricted_policy {self!r}: needs a "
                                 f"{self.space_kind.__name__} action space, the module has "
                                 f"{module.action_space}")
            self._module = module
        return self._module

    @property
    def num_classes(self) -> int:
        return int(self.module.action_space.n)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.module.observation_space.shape)

    @torch.no_grad()
    def probs(self, restricted_contexts: Tensor) -> Tensor:
        """``[B, *input_shape]`` -> ``[B, A]`` action probabilities."""
        from ray.rllib.core.columns import Columns

        x = torch.as_tensor(restricted_contexts)
        _move_to(self.module, x.device)
        out = self.module.forward_inference({Columns.OBS: x.float()})
        return torch.softmax(out[Columns.ACTION_DIST_INPUTS].float(), dim=-1)


def _move_to(module: torch.nn.Module, device: torch.device) -> None:
    """Put ``module`` on the contexts' device (the learner's); ``Module.to`` walks every
    parameter, so it runs only when the first parameter is elsewhere."""
    param = next(module.parameters(), None)
    if param is not None and param.device != device:
        module.to(device)


def from_checkpoint(path, module_id: str = "default_policy", *, trust_pickle: bool = False):
    """The restricted policy of the RLModule ``module_id`` saved under ``path``: a
    :class:`ModulePolicy` (discrete actions) or, for a ``Box`` action space, a
    :class:`ContinuousModulePolicy`. An RLlib checkpoint is a pickle, so this needs
    ``trust_pickle=True`` (ValueError otherwise)."""
    policy = ModulePolicy(path, module_id, trust_pickle=trust_pickle)
    d = policy.module_dir
    module = load_module(str(d), (d / "module_state.pkl").stat().st_mtime)
    if isinstance(module.action_space, gym.spaces.Box):
        return ContinuousModulePolicy(path, module_id, trust_pickle=True)
    return policy


class CallablePolicy:
    """A ``torch.nn.Module`` or callable ``contexts [B, ...] -> [B, A]`` as a restricted
    policy, evaluated without gradient (``outputs``: ``"probs"`` or ``"logits"``)."""

    def __init__(self, fn, num_actions: int, input_shape: tuple[int, ...] | None = None,
                 outputs: str = "probs"):
        if not callable(fn):
            raise ValueError(f"restricted_policy: from_module needs a callable or "
                             f"nn.Module, got {type(fn).__name__}")
        if isinstance(num_actions, bool) or not isinstance(num_actions, (int, np.integer)) \
                or num_actions < 1:
            raise ValueError(f"restricted_policy: num_actions must be an integer >= 1, got "
                             f"{num_actions!r}")
        if outputs not in ("probs", "logits"):
            raise ValueError(f"restricted_policy: outputs must be 'probs' or 'logits', got "
                             f"{outputs!r}")
        self.fn, self.num_classes, self.outputs = fn, int(num_actions), outputs
        self.input_shape = None if input_shape is None else tuple(input_shape)

    def __repr__(self) -> str:
        return f"from_module({type(self.fn).__name__})"

    @torch.no_grad()
    def probs(self, restricted_contexts: Tensor) -> Tensor:
        x = torch.as_tensor(restricted_contexts)
        if isinstance(self.fn, torch.nn.Module):
            _move_to(self.fn, x.device)
            x = x.float() if x.is_floating_point() else x
        out = torch.as_tensor(self.fn(x))
        if out.shape != (*x.shape[:1], self.num_classes):
            raise ValueError(f"restricted_policy {self!r} returned shape {tuple(out.shape)} "
                             f"for contexts {tuple(x.shape)}; expected "
                             f"{(*x.shape[:1], self.num_classes)}")
        out = torch.softmax(out.float(), -1) if self.outputs == "logits" else out.float()
        check_probs(out, "restricted_policy probabilities")
        return out


def from_module(fn, num_actions: int, input_shape: tuple[int, ...] | None = None,
                outputs: str = "probs") -> CallablePolicy:
    """A restricted policy from any ``nn.Module`` or callable (see :class:`CallablePolicy`)."""
    return CallablePolicy(fn, num_actions, input_shape, outputs)


def _shape_of(space: gym.Space) -> tuple[int, ...]:
    return tuple(space.shape) if space.shape is not None else ()


def check_restricted_setup(restricted, view, obs_space: gym.Space,
                           action_space: gym.Space) -> None:
    """Raise ValueError unless ``restricted`` (a RestrictedModel) and ``view`` fit the
    environment's spaces; messages name both shapes. ``view=None`` skips the view checks
    (a user estimator without a view)."""
    if is_continuous(restricted):
        check_continuous_setup(restricted, view, obs_space, action_space)
        return
    if isinstance(action_space, gym.spaces.Box) and isinstance(restricted, RestrictedModel):
        raise ValueError(f"restricted_policy {restricted!r} has {restricted.num_classes} "
                         f"discrete actions but the environment's action space is "
                         f"{action_space}; a Box needs a continuous restricted policy "
                         "(from_checkpoint of a Box-action module, from_gaussian_module)")
    if not isinstance(restricted, RestrictedModel):
        raise ValueError(f"restricted_policy must have num_classes and probs(contexts), got "
                         f"{type(restricted).__name__}")
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"IMM needs a Discrete action space, got {action_space}")
    if restricted.num_classes != action_space.n:
        raise ValueError(f"the restricted policy has {restricted.num_classes} actions but the "
                         f"environment's action space has {action_space.n} ({action_space})")
    if view is None:
        return
    view_space = view.space(obs_space)  # ValueError naming restricted_view if it misfits
    sample = view(torch.as_tensor(np.asarray(obs_space.sample()))[None])
    got = tuple(sample.shape[1:]) if view_space is None else _shape_of(view_space)
    wants = getattr(restricted, "input_shape", None)
    if wants is not None and tuple(wants) != got:
        raise ValueError(f"restricted_policy {restricted!r} takes inputs of shape "
                         f"{tuple(wants)} but restricted_view {view!r} gives {got}")
    try:
        probs = restricted.probs(sample)
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        raise ValueError(f"restricted_policy {restricted!r} failed on a restricted context of "
                         f"shape {tuple(sample.shape)} from restricted_view {view!r}: {e}"
                         ) from e
    if tuple(probs.shape) != (1, action_space.n):
        raise ValueError(f"restricted_policy {restricted!r} returned shape "
                         f"{tuple(probs.shape)} for one context of shape "
                         f"{tuple(sample.shape[1:])}; expected (1, {action_space.n})")


# --------------------------------------------------------------------------- Box actions


class ContinuousModulePolicy(ModulePolicy):
    """Draws from an RLModule's action distribution (``Box`` actions), without gradient,
    in the module's distribution coordinates (``units = "policy"``)."""

    units = "policy"
    space_kind = gym.spaces.Box

    @property
    def action_space(self):
        return self.module.action_space

    def _dist(self, restricted_contexts: Tensor):
        from ray.rllib.core.columns import Columns

        x = torch.as_tensor(restricted_contexts)
        _move_to(self.module, x.device)
        out = self.module.forward_inference({Columns.OBS: x.float()})
        cls = self.module.get_inference_action_dist_cls()
        return cls.from_logits(out[Columns.ACTION_DIST_INPUTS].float())

    @torch.no_grad()
    def sample(self, restricted_contexts: Tensor, m: int) -> Tensor:
        """``[B, ...]`` -> ``[B, m, d]`` draws from the module's distribution."""
        return self._dist(restricted_contexts).sample(sample_shape=(m,)).movedim(0, 1)

    @torch.no_grad()
    def mean(self, restricted_contexts: Tensor) -> Tensor:
        """``[B, ...]`` -> ``[B, d]``: the distribution's deterministic action."""
        return self._dist(restricted_contexts).to_deterministic().sample()


def gaussian_draws(mean: Tensor, log_std: Tensor, m: int) -> Tensor:
    """``m`` draws of a diagonal Gaussian: ``[B, *shape]`` each -> ``[B, m, *shape]``,
    ``mean + exp(log_std) * N(0, 1)``."""
    noise = torch.randn((mean.shape[0], m, *mean.shape[1:]), device=mean.device)
    return mean.unsqueeze(1) + log_std.exp().unsqueeze(1) * noise


def is_continuous(restricted) -> bool:
    """Whether ``restricted`` is a continuous-action restricted policy
    (:class:`~imm_ray.protocols.ContinuousRestrictedModel`: ``action_space``, ``sample``)."""
    return isinstance(restricted, ContinuousRestrictedModel)


def same_box(a: gym.spaces.Box, b: gym.spaces.Box) -> bool:
    """Equal shapes and bounds."""
    return (a.shape == b.shape and np.allclose(a.low, b.low, equal_nan=True)
            and np.allclose(a.high, b.high, equal_nan=True))


def check_continuous_setup(restricted, view, obs_space: gym.Space,
                           action_space: gym.Space) -> None:
    """Raise ValueError unless ``restricted`` acts in the environment's ``Box`` (shape and
    bounds; the message names both spaces) and draws ``[1, 1, *shape]`` for one of
    ``view``'s contexts."""
    if not isinstance(action_space, gym.spaces.Box) or not isinstance(
            restricted.action_space, gym.spaces.Box) or not same_box(
            restricted.action_space, action_space):
        raise ValueError(f"restricted_policy {restricted!r} acts in {restricted.action_space} "
                         f"but the environment's action space is {action_space}: they must "
                         "be Boxes with the same shape and bounds")
    if view is None:
        return
    view_space = view.space(obs_space)
    sample = view(torch.as_tensor(np.asarray(obs_space.sample()))[None])
    got = tuple(sample.shape[1:]) if view_space is None else _shape_of(view_space)
    wants = getattr(restricted, "input_shape", None)
    if wants is not None and tuple(wants) != got:
        raise ValueError(f"restricted_policy {restricted!r} takes inputs of shape "
                         f"{tuple(wants)} but restricted_view {view!r} gives {got}")
    try:
        actions = restricted.sample(sample, 1)
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        raise ValueError(f"restricted_policy {restricted!r} failed on a restricted context of "
                         f"shape {tuple(sample.shape)} from restricted_view {view!r}: {e}"
                         ) from e
    want = (1, 1, *action_space.shape)
    if not torch.is_tensor(actions) or tuple(actions.shape) != want:
        got = tuple(actions.shape) if torch.is_tensor(actions) else type(actions).__name__
        raise ValueError(f"restricted_policy {restricted!r} returned shape {got} for one "
                         f"context of shape {tuple(sample.shape[1:])} and m=1; expected "
                         f"{want}")


# --------------------------------------------------------------------------- exchange format


class SavedPolicy(CallablePolicy):
    """A policy read by :func:`load`: an MLP on logits, with the ``view`` it was saved with
    (a :func:`~imm_ray.rl.views.select` view, or None) and its ``spec``."""

    def __init__(self, net, spec: dict, path):
        super().__init__(net, spec["num_actions"], tuple(spec["input_shape"]), "logits")
        self.spec, self.path = spec, str(path)

    def __repr__(self) -> str:
        return f"load({self.path!r})"

    @property
    def view(self):
        return _saved_view(self.spec)


def _saved_view(spec: dict):
    """The :func:`~imm_ray.rl.views.select` view a spec records, or None."""
    from imm_ray.rl.views import select

    return None if spec["view"] is None else select(*spec["view"]["select"])


class SavedGaussianPolicy:
    """A ``Box``-action policy read by :func:`load`: an MLP giving ``(mean, log_std)``
    (``[B, 2 d]``, split in halves as RLlib's ``TorchDiagGaussian`` does) in the RLModule's
    distribution coordinates (``units = "policy"``), with its bounds, ``view`` and
    ``spec``; draws are ``mean + exp(log_std) * N(0, 1)`` without gradient."""

    units = "policy"

    def __init__(self, net, spec: dict, path):
        from imm_ray.rl.restricted_io import bounds_of

        low, high = bounds_of(spec)
        d = spec["num_actions"]
        self.net, self.spec, self.path = net, spec, str(path)
        self.input_shape = tuple(spec["input_shape"])
        self.action_space = gym.spaces.Box(np.array(low, np.float32),
                                           np.array(high, np.float32), (d,), np.float32)

    def __repr__(self) -> str:
        return f"load({self.path!r})"

    @property
    def view(self):
        return _saved_view(self.spec)

    def _gaussian(self, restricted_contexts: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(restricted_contexts)
        _move_to(self.net, x.device)
        mean, log_std = self.net(x.float()).chunk(2, dim=-1)
        return mean, log_std

    @torch.no_grad()
    def sample(self, restricted_contexts: Tensor, m: int) -> Tensor:
        """``[B, D]`` -> ``[B, m, d]`` draws."""
        return gaussian_draws(*self._gaussian(restricted_contexts), m)

    @torch.no_grad()
    def mean(self, restricted_contexts: Tensor) -> Tensor:
        """``[B, D]`` -> ``[B, d]``: the Gaussian's mean."""
        return self._gaussian(restricted_contexts)[0]


def save(policy, path, *, view=None):
    """Write ``policy`` to the folder ``path`` in the exchange format (no pickle): an
    RLlib RLModule, a :func:`from_checkpoint` / :func:`load` policy, or
    ``from_module(nn.Module, outputs="logits")`` of Linear layers and activations. ``view``
    (a :func:`~imm_ray.rl.views.select` view, or None; a loaded policy's own by default) is
    recorded in the spec. Returns the folder."""
    from imm_ray.rl.restricted_io import save_policy

    view = view if view is not None else getattr(policy, "view", None)
    if view is not None and not hasattr(view, "indices"):
        raise ValueError(f"restricted.save: view must be a select(...) view or None, got "
                         f"{view!r}")
    module = getattr(policy, "module", policy)
    space = getattr(module, "action_space", None)
    bounds = _gaussian_bounds(module, space) if isinstance(space, gym.spaces.Box) else None
    if space is not None and bounds is None and not isinstance(space, gym.spaces.Discrete):
        raise ValueError(f"restricted.save: the exchange format holds policies with Discrete "
                         f"or Box actions; this one acts in {space}")
    if isinstance(module, torch.nn.Module) and hasattr(module, "observation_space"):
        shape = module.observation_space.shape
        actions = space.shape[0] if bounds is not None else space.n
    else:
        shape, actions = getattr(policy, "input_shape", None), getattr(policy, "num_classes", 0)
    if shape is None or len(shape) != 1:
        raise ValueError(f"restricted.save: needs a policy on flat contexts [B, D] with a "
                         f"known input_shape, got input_shape {shape}")
    spec_view = None if view is None else {"select": list(view.indices)}
    return save_policy(policy, path, input_shape=tuple(shape), num_actions=int(actions),
                       view_spec=spec_view, bounds=bounds)


def _gaussian_bounds(module, space: gym.spaces.Box) -> tuple[list, list]:
    """A Box RLModule's bounds for the spec (``None`` for infinite), after checking it is
    what the Gaussian format holds: flat actions and RLlib's ``TorchDiagGaussian``."""
    from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian

    if len(space.shape) != 1:
        raise ValueError(f"restricted.save: Box actions must be flat [d], got {space}")
    get_cls = getattr(module, "get_inference_action_dist_cls", None)
    cls = get_cls() if get_cls is not None else None
    if cls is not TorchDiagGaussian:
        raise ValueError(f"restricted.save: a Box-action policy is saved as a diagonal "
                         f"Gaussian (RLlib's TorchDiagGaussian); this module's action "
                         f"distribution is {getattr(cls, '__name__', cls)}")
    return ([None if not np.isfinite(v) else float(v) for v in space.low],
            [None if not np.isfinite(v) else float(v) for v in space.high])


def load(path):
    """The policy :func:`save` wrote to ``path``; ValueError naming ``path`` if anything is
    missing, truncated or inconsistent. Reads JSON and safetensors only (never pickle)."""
    from imm_ray.rl.restricted_io import load_policy

    net, spec = load_policy(path)
    folder = Path(path).expanduser().resolve()
    if spec["outputs"] == "gaussian":
        return SavedGaussianPolicy(net, spec, folder)
    return SavedPolicy(net, spec, folder)

"""User values as they enter: ``KEY=VALUE`` text -> Python values -> checked against PaperDDPG's annotations.

The one home of every check of a user's names and values before a run is built: ``-p`` (:func:`parse_params`), a
zoo config entry and a study spec's ``fixed:`` (:func:`read_config_values`), ``--device``. Names get a did-you-mean,
types are checked against the constructor's annotations, the documented short forms of object arguments are read
(``lin_1e-4``, ``HerReplayBuffer``, ``normal:0.1``), then PaperDDPG's own value checks run (``preflight.check_values``).
What leaves here is trusted: the run layer and ``models.build_model`` do not check it again.
"""

import ast
import difflib
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

import yaml
from stable_baselines3.common.vec_env import VecEnv

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.preflight import check_values

# Constructor arguments the commands set from their own options.
RUN_SETTINGS = {"seed": "--seed", "device": "--device", "verbose": "--verbose", "tensorboard_log": "--tensorboard"}

# ``-p action_noise=normal:0.1`` / ``ou:0.2``: the short forms of the one object argument users often set.
NOISE_FORMS = "normal:SIGMA or ou:SIGMA (e.g. action_noise=normal:0.1)"


def _known_names(names: Iterable[str], valid: set[str], unknown: str) -> None:
    """A UserError "``unknown`` 'name'; did you mean ...?" for the first name not in ``valid``."""
    for name in names:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid names: {', '.join(sorted(valid))}"
            raise UserError(f"{unknown} '{name}'; {hint}")


def check_names(names: Iterable[str], where: str, extra: Iterable[str] = (), exclude: Iterable[str] = ()) -> None:
    """Every name must be a PaperDDPG argument (or one of ``extra``, not one of ``exclude``); an unknown one gets a
    did-you-mean."""
    valid = (set(PaperDDPG.hyperparameter_defaults()) | set(extra)) - set(exclude)
    _known_names(names, valid, f"{where}: unknown PaperDDPG parameter")


# --- values: KEY=VALUE text -> Python values -> checked against PaperDDPG's annotations ---------------------------


class _Literals(ast.NodeTransformer):
    """``dict(a=1)`` (rl-zoo3's policy_kwargs form) -> ``{"a": 1}``; true/false/null -> Python constants."""

    NAMES = {"true": True, "false": False, "null": None, "none": None}

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            if any(k.arg is None for k in node.keywords):
                raise ValueError("dict(**x) is not a literal")
            keys: list[ast.expr | None] = [ast.Constant(k.arg) for k in node.keywords]
            return ast.Dict(keys=keys, values=[self.visit(k.value) for k in node.keywords])
        raise ValueError("only dict(...) calls are allowed")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id.lower() in self.NAMES:
            return ast.Constant(self.NAMES[node.id.lower()])
        raise ValueError(f"name {node.id}")


def parse_value(text: str) -> Any:
    """A command-line value: any Python literal (``1e-4``, ``True``, ``None``, lists, dicts, ``(1, "episode")``),
    ``dict(net_arch=[400, 300])`` as in rl-zoo3 configs, true/false/null, YAML flow collections; else the text itself.
    Nothing is evaluated: only literals are read."""
    try:
        tree = _Literals().visit(ast.parse(text.strip(), mode="eval"))
        return ast.literal_eval(ast.fix_missing_locations(tree))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, list | dict) else text  # YAML's "yes"/"on" booleans are not guessed


def parse_params(pairs: Iterable[str], where: str = "-p") -> dict[str, Any]:
    """``KEY=VALUE`` pairs: names checked (did-you-mean), values parsed by :func:`parse_value`, types checked."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{where} {pair!r} is not KEY=VALUE, e.g. {where} tau=0.005")
        if key.strip() in params:
            raise UserError(f"{where} {key.strip()} is given twice ({params[key.strip()]!r}, then {value}): give it once")
        params[key.strip()] = parse_value(value)
    arguments = PaperDDPG.hyperparameter_defaults()
    for key in params:
        setting = key if key in RUN_SETTINGS else next(iter(difflib.get_close_matches(key, RUN_SETTINGS, n=1)), None)
        if setting is not None and (key in RUN_SETTINGS or key not in arguments):
            raise UserError(f"{where} {key}=...: use {RUN_SETTINGS[setting]} instead (a run setting, not a hyperparameter)")
    check_names(params, where, exclude=RUN_SETTINGS)  # the did-you-mean offers what -p takes
    return check_types(params, where)


def _hint_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "None"
    if hint is Any:
        return "any value"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_hint_name(a) for a in args)
    if origin is Callable or hint is Callable:
        return "a schedule (callable, or lin_X for a linear decay)"
    if origin is tuple:
        return f"a tuple ({', '.join(_hint_name(a) for a in args)})"
    if origin is dict:
        return "a dict"
    if origin is type:
        return f"a {args[0].__name__} class"
    return getattr(hint, "__name__", str(hint))


def _conform(value: Any, hint: Any) -> tuple[bool, Any]:
    """Whether ``value`` fits the annotation ``hint``, and the value converted (``1e6`` for an int, a list for a tuple)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True, value
    if hint is type(None):
        return value is None, value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            ok, converted = _conform(value, arg)
            if ok:
                return True, converted
        return False, value
    if isinstance(value, bool):
        return hint is bool, value
    if hint is float:
        return isinstance(value, int | float), value  # an int is a valid float, and is shown as typed
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return isinstance(value, int), value
    if origin is Callable or hint is Callable:
        return callable(value), value
    if origin is tuple:
        if not isinstance(value, tuple | list) or len(value) != len(args):
            return False, value
        converted = [_conform(v, a) for v, a in zip(value, args, strict=True)]
        return all(ok for ok, _ in converted), tuple(v for _, v in converted)
    if origin is dict:
        return isinstance(value, dict), value
    if origin is type:
        return isinstance(value, type) and issubclass(value, args[0]), value
    if isinstance(hint, type):
        return isinstance(value, hint), value
    return True, value


def _annotations() -> dict[str, Any]:
    # SB3's GymEnv names "VecEnv" as a forward reference, resolved here rather than in the algorithm's module.
    return typing.get_type_hints(PaperDDPG.__init__, localns={"VecEnv": VecEnv})


def check_types(params: dict[str, Any], where: str) -> dict[str, Any]:
    """Each value against PaperDDPG's annotation, after the short forms (``lin_1e-4``, ``HerReplayBuffer``) are read.

    Returns the values converted (``buffer_size=1e6`` -> 1000000, ``train_freq=[1, "episode"]`` -> a tuple).
    ``action_noise`` stays a short-form string here: it needs the env's action size (:func:`build_model`).
    """
    hints = _annotations()
    checked: dict[str, Any] = {}
    for key, value in params.items():
        value = resolve_short_form(key, value, where)
        if key == "action_noise" and isinstance(value, str):
            checked[key] = value
            continue
        if key == "action_noise" and value is None:  # None is the default, not "no noise": say so, not ignore it
            raise UserError(
                f"{where}: action_noise=None keeps the paper's OU noise (the default); for no exploration "
                "noise give ou_sigma=0, for another noise action_noise=normal:SIGMA or ou:SIGMA"
            )
        ok, converted = _conform(value, hints.get(key, Any))
        if not ok:
            raise UserError(
                f"{where}: {key}={value!r} is a {type(value).__name__}; expected {_hint_name(hints[key])} "
                f"(the default is {PaperDDPG.hyperparameter_defaults()[key]!r})"
            )
        checked[key] = converted
    if isinstance(checked.get("policy_kwargs"), dict):
        check_policy_kwargs(checked["policy_kwargs"], where)
    return check_values(checked, where)  # ranges, and settings that would have no effect together


def read_config_values(values: dict[str, Any], where: str, extra: Iterable[str] = ()) -> dict[str, Any]:
    """Values of a config file (a zoo YAML entry, a study spec's ``fixed:``) read as the command line reads them:
    names checked (``extra`` are allowed too, unchecked), text parsed (``1e-4``, a string to YAML 1.1, is a number;
    ``lin_1e-4`` a schedule; ``HerReplayBuffer`` the class), types and values checked. Returns the ones for PaperDDPG."""
    check_names(values, where, extra=extra)
    ours = {
        k: parse_value(v) if isinstance(v, str) and not v.startswith("lin_") else v
        for k, v in values.items()
        if k not in set(extra)
    }
    return check_types(ours, where)


def check_policy_kwargs(policy_kwargs: dict[str, Any], where: str) -> None:
    """``policy_kwargs`` keys must be PaperDDPGPolicy arguments; an unknown one gets a did-you-mean."""
    import inspect

    from sb3_ddpg_ext.paper_ddpg import PaperDDPGPolicy

    valid = set(inspect.signature(PaperDDPGPolicy.__init__).parameters) - {
        "self",
        "observation_space",
        "action_space",
        "lr_schedule",
    }
    _known_names(policy_kwargs, valid, f"{where}: policy_kwargs: unknown PaperDDPGPolicy argument")


def resolve_short_form(key: str, value: Any, where: str) -> Any:
    """The documented short forms of arguments that take objects: ``lin_X`` schedules for the learning rates, and
    ``replay_buffer_class`` by SB3 class name. ``action_noise`` is checked here and built by :func:`build_model`."""
    if not isinstance(value, str):
        return value
    if key in ("actor_learning_rate", "critic_learning_rate") and value.startswith("lin_"):
        from stable_baselines3.common.utils import LinearSchedule

        try:
            return LinearSchedule(float(value[4:]), 0.0, 1.0)
        except ValueError:
            raise UserError(f"{where}: {key}={value!r}: write lin_X with a number X, e.g. lin_1e-4") from None
    if key == "replay_buffer_class":
        classes = replay_buffer_classes()
        if value not in classes:
            raise UserError(f"{where}: replay_buffer_class={value!r} is not one of {', '.join(classes)}")
        return classes[value]
    if key == "action_noise":
        kind, _, sigma = value.partition(":")
        if kind not in ("normal", "ou") or (number := _number(sigma)) is None or number < 0:
            raise UserError(
                f"{where}: action_noise={value!r}: use {NOISE_FORMS}; for the paper's OU noise set ou_sigma "
                "and ou_theta instead, and pass other ActionNoise objects through the Python API"
            )
    return value


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def replay_buffer_classes() -> dict[str, type]:
    """SB3's replay buffers by name, the values ``replay_buffer_class`` accepts on the command line."""
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.buffers import DictReplayBuffer, NStepReplayBuffer, ReplayBuffer

    return {c.__name__: c for c in (ReplayBuffer, DictReplayBuffer, HerReplayBuffer, NStepReplayBuffer)}


def check_device(device: str) -> str:
    """A torch device name that exists on this machine ("auto", "cpu", "cuda", "cuda:1", ...): PaperDDPG's check."""
    from sb3_ddpg_ext.paper_ddpg.checks import check_device as check

    try:
        check(device)
    except ValueError as e:
        raise UserError(f"--device {str(e).removeprefix('PaperDDPG: device=')}") from None
    return device

"""PaperDDPG's checks of ``policy_kwargs``: each key and value the policy takes, one TypeError or ValueError naming
the mistake and the fix, raised where the value enters (``checks.check_hyperparameters``) and not from inside torch.
"""

import difflib
import inspect
import math
import numbers
from typing import Any

from torch import nn

from sb3_ddpg_ext.paper_ddpg.layers import NORM_LAYERS

# What PaperDDPG passes a policy itself: not the user's to give in policy_kwargs.
PASSED = {"self", "observation_space", "action_space", "lr_schedule"}
NET_ARCH_FORM = "a list of layer sizes such as [400, 300] (the paper's), or dict(pi=[...], qf=[...])"


def _layer_sizes(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and int(n) >= 1 for n in value
    )


def check_policy_keys(policy_class: type, policy_kwargs: dict[str, Any]) -> None:
    """Every key of ``policy_kwargs`` is an argument of ``policy_class`` (any key for one that takes ``**kwargs``)."""
    parameters = inspect.signature(policy_class).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = set(parameters) - PASSED
    for key in policy_kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"its arguments: {', '.join(sorted(accepted))}"
            raise ValueError(f"PaperDDPG: policy_kwargs: {policy_class.__name__} takes no argument '{key}'; {hint}")


def check_policy_kwargs(policy_kwargs: dict[str, Any]) -> None:
    """The values of ``policy_kwargs`` that :class:`PaperDDPGPolicy` builds from (its keys are checked against the
    policy class, which may be a subclass with others: :func:`check_policy_keys`)."""
    net_arch = policy_kwargs.get("net_arch")
    if net_arch is not None:
        parts = net_arch.values() if isinstance(net_arch, dict) else [net_arch]
        if (isinstance(net_arch, dict) and not set(net_arch) <= {"pi", "qf"}) or not all(map(_layer_sizes, parts)):
            raise ValueError(f"PaperDDPG: policy_kwargs net_arch={net_arch!r} must be {NET_ARCH_FORM}")
    activation = policy_kwargs.get("activation_fn", nn.ReLU)
    if not (isinstance(activation, type) and issubclass(activation, nn.Module)):
        raise TypeError(
            f"PaperDDPG: policy_kwargs activation_fn={activation!r} must be a torch.nn.Module class, such as "
            "torch.nn.ReLU (the paper's): the class, not an instance or a name"
        )
    init = policy_kwargs.get("final_layer_init")
    if init is not None and (
        isinstance(init, bool) or not isinstance(init, numbers.Real) or not (math.isfinite(init) and float(init) > 0)
    ):
        raise ValueError(
            f"PaperDDPG: policy_kwargs final_layer_init={init!r} must be a number > 0, the bound of the output layers' "
            "uniform init (the paper's 3e-3)"
        )
    for name in ("batch_norm", "bias_before_norm", "share_features_extractor", "normalize_images"):
        if name in policy_kwargs and not isinstance(policy_kwargs[name], bool):
            raise TypeError(f"PaperDDPG: policy_kwargs {name}={policy_kwargs[name]!r} must be True or False")
    layer = policy_kwargs.get("action_input_layer", 1)
    if isinstance(layer, bool) or not isinstance(layer, numbers.Integral) or layer < 0:
        raise ValueError(f"PaperDDPG: policy_kwargs action_input_layer={layer!r} must be an integer >= 0 (the paper's 1)")
    _check_layer_kwargs(policy_kwargs)


def _check_layer_kwargs(policy_kwargs: dict[str, Any]) -> None:
    """The keyword dicts: the norm layer's, and the optimizer's (whose learning rate and decay PaperDDPG sets)."""
    norm_layer = policy_kwargs.get("norm_layer", "batch_norm")
    if norm_layer not in NORM_LAYERS:
        raise ValueError(
            f"PaperDDPG: policy_kwargs norm_layer={norm_layer!r} must be one of {sorted(NORM_LAYERS)} (the paper's: "
            "'batch_norm')"
        )
    for name in ("norm_layer_kwargs", "optimizer_kwargs", "features_extractor_kwargs"):
        if policy_kwargs.get(name) is not None and not isinstance(policy_kwargs[name], dict):
            raise TypeError(f"PaperDDPG: policy_kwargs {name}={policy_kwargs[name]!r} must be a dict or None")
    accepted = set(inspect.signature(NORM_LAYERS[norm_layer]).parameters) - {"num_features", "device", "dtype"}
    for key in policy_kwargs.get("norm_layer_kwargs") or {}:
        if key not in accepted:
            raise ValueError(
                f"PaperDDPG: policy_kwargs norm_layer_kwargs: {NORM_LAYERS[norm_layer].__name__} takes no argument "
                f"'{key}'; its arguments: {', '.join(sorted(accepted))}"
            )
    optimizer_kwargs = policy_kwargs.get("optimizer_kwargs") or {}
    if "weight_decay" in optimizer_kwargs:
        raise ValueError(
            f"PaperDDPG: policy_kwargs optimizer_kwargs weight_decay={optimizer_kwargs['weight_decay']!r} would decay "
            "the actor only: the critic's L2 is critic_weight_decay (the paper's 1e-2 on Q, section 7), and the paper "
            "decays no actor weight; drop it"
        )
    if "lr" in optimizer_kwargs:
        raise ValueError(
            "PaperDDPG: policy_kwargs optimizer_kwargs lr: the learning rates are actor_learning_rate and "
            "critic_learning_rate (one per network, as the paper); drop it"
        )

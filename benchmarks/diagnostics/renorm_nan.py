"""sb3-contrib's BatchRenorm1d in PaperDDPG (norm_layer="batch_renorm", warm-up 5000) on Pendulum-v1, seed 0:
the smallest running variance per renorm layer every 500 steps, until a tensor becomes non-finite.

    python benchmarks/diagnostics/renorm_nan.py
"""

from typing import cast

import torch as th
from sb3_contrib.common.torch_layers import BatchRenorm1d
from stable_baselines3.common.env_util import make_vec_env

from sb3_ddpg_ext import PaperDDPG

th.set_num_threads(1)

m = PaperDDPG(
    "MlpPolicy",
    make_vec_env("Pendulum-v1", seed=0),
    seed=0,
    bn_stats_for_y="running",  # BatchRenorm1d normalizes with running statistics only
    bn_stats_for_policy_gradient="running",
    policy_kwargs=dict(norm_layer="batch_renorm", norm_layer_kwargs=dict(warmup_steps=5000)),
)


def minvars() -> dict[str, str]:
    return {
        f"{net}.{n}": f"{cast(th.Tensor, mod.ra_var).min().item():.1e}"  # a registered buffer
        for net in ("actor", "critic")
        for n, mod in getattr(m, net).named_modules()
        if isinstance(mod, BatchRenorm1d)
    }


prev = None
for _ in range(24):
    m.learn(500, reset_num_timesteps=False)
    bad = [n for n, t in m.policy.state_dict().items() if t.is_floating_point() and not th.isfinite(t).all()]
    print(m.num_timesteps, "non-finite:", bad[:8], "ra_var min:", minvars(), flush=True)
    if bad:
        print("previous checkpoint ra_var min:", prev)
        break
    prev = minvars()

"""The critic's batch-vs-running-statistics mismatch after training on Pendulum-v1 (seed 0) with rllab's reading of
batch norm (running statistics for y and dQ/da, this package's default before issue 9).

Q(s, a) and dQ/da on 1024 replay transitions with the critic's BN on batch statistics (as in its own loss) and on
running statistics (as for y and the actor gradient in that reading), and the smallest BN running variances.

    python benchmarks/diagnostics/bn_mismatch.py 10000
"""

import sys

import torch as th
from torch import nn

from sb3_ddpg_ext import PaperDDPG

th.set_num_threads(1)

steps = int(sys.argv[1])
m = PaperDDPG("MlpPolicy", "Pendulum-v1", seed=0, bn_stats_for_y="running", bn_stats_for_policy_gradient="running")
m.learn(steps)
critic = m.critic
th.manual_seed(0)
assert m.replay_buffer is not None
batch = m.replay_buffer.sample(1024)


def q(mode: str, obs: th.Tensor, act: th.Tensor) -> th.Tensor:
    critic.set_bn_statistics(mode)
    out = critic.q1_forward(obs, act)
    critic.set_bn_statistics("train")
    return out


with th.no_grad():
    qb = q("batch", batch.observations, batch.actions)
    qr = q("running", batch.observations, batch.actions)
print(
    f"steps {steps}: Q batch-stats mean {qb.mean():.1f} std {qb.std():.1f}; "
    f"Q running-stats mean {qr.mean():.1f} std {qr.std():.1f}; "
    f"mean |diff| {(qb - qr).abs().mean():.2f}; corr {th.corrcoef(th.cat([qb, qr], 1).T)[0, 1]:.3f}"
)
obs = batch.observations
a = m.actor(obs).detach().requires_grad_(True)
grads: dict[str, th.Tensor] = {}
for mode in ("batch", "running"):
    critic.set_bn_statistics(mode)
    (g,) = th.autograd.grad(critic.q1_forward(obs, a).sum(), a)
    grads[mode] = g.flatten()
critic.set_bn_statistics("train")
cos = nn.functional.cosine_similarity(grads["batch"], grads["running"], dim=0)
sign = (grads["batch"].sign() == grads["running"].sign()).float().mean()
print(
    f"dQ/da batch vs running: cosine {cos:.3f}, same sign {sign:.2f}, "
    f"norms {grads['batch'].norm():.2f} {grads['running'].norm():.2f}"
)
for i, bn in enumerate(mm for mm in critic.modules() if isinstance(mm, nn.BatchNorm1d)):
    v = bn.running_var
    assert v is not None  # BatchNorm1d tracks running statistics by default
    print(
        f"critic BN{i} ({bn.num_features}): running_var min {v.min():.2e} median {v.median():.2e}; "
        f"units with var < 1e-3: {(v < 1e-3).sum().item()}"
    )
lin = critic.state_net[1]
assert isinstance(lin, nn.Linear)  # state_net: BN on the state, then Linear -> BN -> ReLU
w = lin.weight.norm(dim=1)
print(f"critic layer-1 weight row norms: min {w.min():.2e} median {w.median():.2e}; rows < 1e-3: {(w < 1e-3).sum().item()}")

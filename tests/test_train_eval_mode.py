"""SB3-style train/eval mode tests: batch norm in each phase."""

import numpy as np
import torch as th
from torch import nn

from sb3_ddpg_ext import PaperDDPG


def bn_stats(module: nn.Module) -> list[th.Tensor]:
    return [t.clone() for m in module.modules() if isinstance(m, nn.BatchNorm1d) for t in (m.running_mean, m.running_var)]


def test_train_eval_mode() -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=500, seed=0)
    model.learn(100)
    policy = model.policy
    obs = th.as_tensor(np.random.default_rng(0).normal(size=(32, 3)), dtype=th.float32)

    policy.set_training_mode(False)
    before = bn_stats(policy)
    with th.no_grad():
        a1, a2 = policy.actor(obs), policy.actor(obs)
    th.testing.assert_close(a1, a2)  # eval mode: deterministic, running statistics untouched
    assert all(th.equal(x, y) for x, y in zip(before, bn_stats(policy), strict=True))
    # One sample is normalised with the running statistics, so it does not depend on the rest of the batch.
    th.testing.assert_close(policy.actor(obs[:1]), a1[:1])

    policy.set_training_mode(True)
    assert policy.actor.training and policy.critic.training
    assert not policy.actor_target.training and not policy.critic_target.training
    with th.no_grad():
        batch_mode = policy.actor(obs)
    assert not th.allclose(batch_mode, a1)  # train mode normalises with the batch statistics
    assert not all(th.equal(x, y) for x, y in zip(before, bn_stats(policy), strict=True))
    policy.set_training_mode(False)


def test_predict_leaves_eval_mode() -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=500, seed=0)
    model.policy.set_training_mode(True)
    model.predict(np.zeros(3, dtype=np.float32))
    assert not model.actor.training

"""The two PaperDDPG options of the HER paper (Andrychowicz et al. 2017, appendix A): an L2 penalty on the actor's
actions and epsilon-random exploration. Options of the algorithm, checked on Pendulum-v1: no robotics extra needed."""

import copy

import numpy as np
import pytest
import torch as th

from sb3_ddpg_ext import PaperDDPG


def test_actor_action_l2_is_the_only_gradient_when_the_critic_is_flat(pendulum) -> None:
    """With dQ/da = 0 (the critic's output layer zeroed), the actor's gradient in ``train()`` is exactly that of
    ``actor_action_l2 * mean(mu(s)^2)`` on the sampled batch (HER paper, appendix A), and zero at the default 0."""
    for l2 in (0.0, 1.0):
        model = pendulum(actor_action_l2=l2, policy_kwargs=dict(batch_norm=False), batch_size=32)
        model.learn(64)
        with th.no_grad():
            for head in (model.critic.q_net[-1], model.critic_target.q_net[-1]):
                head.weight.zero_()
        model.critic_lr_schedule = lambda _: 0.0  # the critic's own step keeps it flat
        model.actor.optimizer = th.optim.SGD(model.actor.parameters())  # keeps .grad after its step
        reference = copy.deepcopy(model.actor)
        np.random.seed(1)
        model.train(gradient_steps=1, batch_size=32)
        np.random.seed(1)
        actions = reference(model.replay_buffer.sample(32).observations)
        expected = th.autograd.grad(l2 * actions.pow(2).mean(), list(reference.parameters()), allow_unused=True)
        for p, g in zip(model.actor.parameters(), expected, strict=True):
            assert th.allclose(p.grad, th.zeros_like(p) if g is None else g, atol=1e-7)
        assert any(p.grad.abs().max() > 0 for p in model.actor.parameters()) == (l2 > 0)
        assert th.allclose(model.actor_action_penalty(actions), l2 * actions.pow(2).mean())
    assert PaperDDPG.hyperparameter_defaults()["actor_action_l2"] == 0.0


def test_random_action_eps_replaces_actions_with_uniform_ones(pendulum) -> None:
    model = pendulum(ou_sigma=0.0)
    model._last_obs = model.env.reset()
    policy_action, _ = model._sample_action(learning_starts=0)
    assert all(np.array_equal(model._sample_action(0)[0], policy_action) for _ in range(5))  # eps 0: the policy
    model.random_action_eps = 1.0
    actions = np.array([model._sample_action(0)[0][0, 0] for _ in range(2000)])
    assert np.all(np.abs(actions) <= 2.0) and abs(actions.std() - 4 / np.sqrt(12)) < 0.1  # uniform on [-2, 2]
    model.random_action_eps = 0.3
    share = np.mean([not np.array_equal(model._sample_action(0)[0], policy_action) for _ in range(2000)])
    assert 0.25 < share < 0.35
    assert PaperDDPG.hyperparameter_defaults()["random_action_eps"] == 0.0
    with pytest.raises(ValueError, match="random_action_eps"):
        pendulum(random_action_eps=1.5)

"""Speed never changes what is learned: PaperDDPG.train() equals a straightforward reference update."""

import copy

import pytest
import torch as th
from torch.nn import functional as F

from sb3_ddpg_ext import PaperDDPG


def plain_adam(params, state: dict, **kwargs) -> th.optim.Adam:
    """Per-tensor Adam (no fused or foreach kernel), resumed from ``state``, an optimizer ``state_dict()``."""
    optimizer = th.optim.Adam(params, foreach=False, fused=False, **kwargs)
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:  # load_state_dict brings the saved fused=True back: keep the plain loop
        group.update(fused=False, foreach=False)
    return optimizer


def reference_updates(policy, batches, gamma: float, tau: float, actor_opt, critic_opt):
    """Algorithm 1 written plainly: per-tensor Adam, full backward, per-parameter Polyak loop, module.train/eval."""
    policy.actor.train()
    policy.critic.train()
    policy.actor_target.eval()
    policy.critic_target.eval()
    for batch in batches:
        with th.no_grad():
            next_q = policy.critic_target(batch.next_observations, policy.actor_target(batch.next_observations))[0]
            y = batch.rewards + (1 - batch.dones) * gamma * next_q
        critic_loss = F.mse_loss(policy.critic(batch.observations, batch.actions)[0], y)
        critic_opt.zero_grad()
        critic_loss.backward()
        critic_opt.step()
        policy.critic.eval()
        actor_loss = -policy.critic(batch.observations, policy.actor(batch.observations))[0].mean()
        policy.critic.train()
        actor_opt.zero_grad()
        actor_loss.backward()
        actor_opt.step()
        with th.no_grad():
            for net, target in ((policy.actor, policy.actor_target), (policy.critic, policy.critic_target)):
                for p, p_target in zip(net.parameters(), target.parameters(), strict=True):
                    p_target.mul_(1 - tau).add_(tau * p)
                for (name, b), b_target in zip(net.named_buffers(), target.buffers(), strict=True):
                    if "running_" in name:
                        b_target.copy_(b)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_fast_update_equals_reference(batch_norm: bool) -> None:
    model = PaperDDPG(
        "MlpPolicy", "HalfCheetah-v5", buffer_size=2000, tau=0.01, seed=0, policy_kwargs=dict(batch_norm=batch_norm)
    )
    model.learn(200)  # fills the buffer and moves the weights and optimizer state away from their initial values
    reference = copy.deepcopy(model.policy)
    th.manual_seed(1)
    batches = [model.replay_buffer.sample(64) for _ in range(25)]
    queue = list(batches)
    model.replay_buffer.sample = lambda *args, **kwargs: queue.pop(0)  # feed both paths the same batches

    # Reference optimizers start from the model's Adam moments (the model already made 137 updates).
    model_state = copy.deepcopy({"actor": model.actor.optimizer.state_dict(), "critic": model.critic.optimizer.state_dict()})
    before = copy.deepcopy(model.policy.state_dict())
    model.train(gradient_steps=len(batches), batch_size=64)
    assert not queue

    actor_opt = plain_adam(reference.actor.parameters(), model_state["actor"], lr=1e-4)
    critic_opt = plain_adam(reference.critic.parameters(), model_state["critic"], lr=1e-3, weight_decay=1e-2)
    reference_updates(reference, batches, model.gamma, model.tau, actor_opt, critic_opt)

    fast, slow = model.policy.state_dict(), reference.state_dict()
    assert fast.keys() == slow.keys()
    # atol: a bias followed by batch norm has a true gradient of 0, and Adam turns its float rounding noise into
    # steps of up to lr (1e-4); over 25 steps both paths stay within ~1e-5 of each other on those entries.
    for key in fast:
        th.testing.assert_close(fast[key], slow[key], rtol=1e-4, atol=2e-5, msg=key)
    # The updates really moved every network (the comparison is not between two untouched copies).
    for prefix in ("actor.", "critic.", "actor_target.", "critic_target."):
        assert any(not th.equal(fast[k], before[k]) for k in fast if k.startswith(prefix)), prefix


def test_policy_gradient_q_equals_the_critic() -> None:
    """The actor-loss form of Q (split first joint layer, no autograd in the state branch) is the same function."""
    model = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=100, seed=0)
    critic = model.critic
    critic.set_training_mode(False)
    obs = th.randn(64, 17)
    actions = th.rand(64, 6, requires_grad=True)
    q_split = critic.q_for_policy_gradient(obs, actions)
    (grad_split,) = th.autograd.grad(q_split.sum(), actions)
    q_full = critic.q1_forward(obs, actions)
    (grad_full,) = th.autograd.grad(q_full.sum(), actions)
    th.testing.assert_close(q_split, q_full)
    th.testing.assert_close(grad_split, grad_full)

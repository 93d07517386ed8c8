"""Speed never changes what is learned: PaperDDPG.train() equals a straightforward reference update."""

import copy

import pytest
import torch as th
from stable_baselines3.common import policies as sb3_policies
from torch import nn
from torch.nn import functional as F

from sb3_ddpg_ext import PaperDDPG


def reference_updates(
    policy,
    batches,
    gamma: float,
    tau: float,
    optimizer_states: dict[str, dict],
    critic_l2_on: str,
    target_bn_stats: str,
    weight_decay: float = 1e-2,
) -> None:
    """Algorithm 1 written plainly: per-tensor Adam, full backward, per-tensor Polyak loop, module.train/eval.

    The critic's L2 applies to its Linear weights ("weights") or to every parameter ("all"); the targets' BN running
    statistics are soft-updated like the weights ("average") or copied ("copy"). The optimizers start from
    ``optimizer_states``, the model's Adam moments, so that both paths take the same steps.
    """
    critic_weights = [m.weight for m in policy.critic.modules() if isinstance(m, nn.Linear)]
    others = [p for p in policy.critic.parameters() if all(p is not w for w in critic_weights)]
    if critic_l2_on == "weights":
        critic_groups = [{"params": critic_weights, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]
    else:
        critic_groups = [{"params": list(policy.critic.parameters()), "weight_decay": weight_decay}]
    actor_opt = th.optim.Adam(policy.actor.parameters(), foreach=False, fused=False)
    critic_opt = th.optim.Adam(critic_groups, foreach=False, fused=False)
    for opt, state in ((actor_opt, optimizer_states["actor"]), (critic_opt, optimizer_states["critic"])):
        opt.load_state_dict(state)  # learning rates, weight decays and moments of the model's optimizers
        for group in opt.param_groups:  # load_state_dict brings fused=True back: keep the plain loop
            group.update(fused=False, foreach=False)
    assert [g["weight_decay"] for g in critic_opt.param_groups] == [g["weight_decay"] for g in critic_groups]

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
                    if "running_" in name and target_bn_stats == "average":
                        b_target.mul_(1 - tau).add_(tau * b)
                    elif "running_" in name:
                        b_target.copy_(b)


def as_float64(batch):
    return batch._replace(**{k: v.double() for k, v in batch._asdict().items() if isinstance(v, th.Tensor)})


@pytest.mark.parametrize(
    ("batch_norm", "critic_l2_on", "target_bn_stats"),
    [(True, "weights", "average"), (True, "all", "copy"), (False, "weights", "average")],
)
def test_fast_update_equals_reference(batch_norm: bool, critic_l2_on: str, target_bn_stats: str, monkeypatch) -> None:
    model = PaperDDPG(
        "MlpPolicy",
        "HalfCheetah-v5",
        buffer_size=2000,
        tau=0.01,
        seed=0,
        critic_l2_on=critic_l2_on,
        target_bn_stats=target_bn_stats,
        policy_kwargs=dict(batch_norm=batch_norm),
    )
    model.learn(200)  # fills the buffer and moves the weights and optimizer state away from their initial values
    # In float64. A bias followed by batch norm has a true gradient of 0 and, without L2 on it, a float32 gradient of
    # rounding noise (~1e-9) that Adam (eps 1e-8) turns into steps of a fraction of lr, differently on each path.
    # In float64 that noise is ~1e-16, and both paths must agree to rounding.
    model.policy.double()
    monkeypatch.setattr(sb3_policies, "preprocess_obs", lambda obs, *args, **kwargs: obs.double())  # SB3 casts to float32
    for optimizer in (model.actor.optimizer, model.critic.optimizer):
        optimizer.load_state_dict(optimizer.state_dict())  # casts the Adam moments to float64
    model._collect_update_tensors()  # .double() replaced the BN buffers
    reference = copy.deepcopy(model.policy)
    th.manual_seed(1)
    batches = [as_float64(model.replay_buffer.sample(64)) for _ in range(25)]
    queue = list(batches)
    model.replay_buffer.sample = lambda *args, **kwargs: queue.pop(0)  # feed both paths the same batches

    # Reference optimizers start from the model's Adam moments (the model already made 137 updates).
    optimizer_states = copy.deepcopy(
        {"actor": model.actor.optimizer.state_dict(), "critic": model.critic.optimizer.state_dict()}
    )
    before = copy.deepcopy(model.policy.state_dict())
    model.train(gradient_steps=len(batches), batch_size=64)
    assert not queue

    reference_updates(reference, batches, model.gamma, model.tau, optimizer_states, critic_l2_on, target_bn_stats)

    fast, slow = model.policy.state_dict(), reference.state_dict()
    assert fast.keys() == slow.keys()
    for key in fast:
        th.testing.assert_close(fast[key], slow[key], rtol=1e-9, atol=1e-9, msg=lambda m, key=key: f"{key}: {m}")
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

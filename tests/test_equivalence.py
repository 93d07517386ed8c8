"""Speed never changes what is learned: PaperDDPG.train() equals a straightforward reference update, the lean action
path equals SB3's predict path, the float32 buffer samples SB3's batches, and the graph Adam is torch's Adam."""

import copy
import pickle
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from helpers import needs
from stable_baselines3.common import policies as sb3_policies
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.td3 import TD3
from torch import nn
from torch.nn import functional as F

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.buffers import Float32ReplayBuffer
from sb3_ddpg_ext.paper_ddpg.compiled import GraphAdamStep, adam_, bias_corrections

needs_compiler = pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None, reason="torch.compile's Inductor needs a C++ compiler"
)


def reference_updates(
    policy,
    batches,
    gamma: float,
    tau: float,
    optimizer_states: dict[str, dict],
    critic_l2_on: str,
    target_bn_stats: str,
    bn_statistics: str,
    weight_decay: float = 1e-2,
) -> None:
    """Algorithm 1 written plainly: per-tensor Adam, full backward, per-tensor Polyak loop, module.train/eval.

    The critic's L2 applies to its Linear weights ("weights") or to every parameter ("all"); the targets' BN running
    statistics are soft-updated like the weights ("average") or copied ("copy"). y and the actor's loss use the
    batch's BN statistics ("batch": train mode, running statistics restored afterwards) or the running ones
    ("running": eval mode). The optimizers start from ``optimizer_states``, the model's Adam moments, so that both
    paths take the same steps.
    """

    def update_pass(net: nn.Module, *inputs: th.Tensor) -> th.Tensor:
        """Q or mu outside the critic's own loss: eval mode for "running"; for "batch", a train-mode copy of ``net``
        (the minibatch's statistics), so that the running statistics of ``net`` stay as they were."""
        if bn_statistics == "batch":
            return copy.deepcopy(net).train()(*inputs)
        net.eval()
        out = net(*inputs)
        net.train()
        return out

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
    for batch in batches:
        with th.no_grad():
            next_actions = update_pass(policy.actor_target, batch.next_observations)
            next_q = update_pass(policy.critic_target, batch.next_observations, next_actions)[0]
            y = batch.rewards + (1 - batch.dones) * gamma * next_q
        critic_loss = F.mse_loss(policy.critic(batch.observations, batch.actions)[0], y)
        critic_opt.zero_grad()
        critic_loss.backward()
        critic_opt.step()
        actor_loss = -update_pass(policy.critic, batch.observations, policy.actor(batch.observations))[0].mean()
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
    ("batch_norm", "critic_l2_on", "target_bn_stats", "bn_statistics", "compile_update"),
    [
        (True, "weights", "average", "batch", False),  # the defaults
        (True, "weights", "average", "running", False),
        (True, "all", "copy", "running", False),  # the behaviour before issue 9
        (False, "weights", "average", "batch", False),
        pytest.param(True, "weights", "average", "batch", True, marks=needs_compiler),
    ],
)
@needs("mujoco")
def test_fast_update_equals_reference(
    batch_norm: bool, critic_l2_on: str, target_bn_stats: str, bn_statistics: str, compile_update: bool, monkeypatch
) -> None:
    model = PaperDDPG(
        "MlpPolicy",
        "HalfCheetah-v5",
        buffer_size=2000,
        tau=0.01,
        seed=0,
        critic_l2_on=critic_l2_on,
        target_bn_stats=target_bn_stats,
        bn_stats_for_y=bn_statistics,
        bn_stats_for_policy_gradient=bn_statistics,
        policy_kwargs=dict(batch_norm=batch_norm),
        compile_update=compile_update,
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
    if compile_update:  # every step ran in the compiled graph
        assert model._compiled_update.compile_seconds is not None
    else:  # every Adam step took AdamStep's lean path (same kernel as Optimizer.step, without its wrapper)
        steps = [model._adam_steps[id(optimizer)] for optimizer in (model.actor.optimizer, model.critic.optimizer)]
        assert all(step.lean and step._states() is not None for step in steps)

    reference_updates(
        reference, batches, model.gamma, model.tau, optimizer_states, critic_l2_on, target_bn_stats, bn_statistics
    )

    fast, slow = model.policy.state_dict(), reference.state_dict()
    assert fast.keys() == slow.keys()
    for key in fast:
        th.testing.assert_close(fast[key], slow[key], rtol=1e-9, atol=1e-9, msg=lambda m, key=key: f"{key}: {m}")
    # The updates really moved every network (the comparison is not between two untouched copies).
    for prefix in ("actor.", "critic.", "actor_target.", "critic_target."):
        assert any(not th.equal(fast[k], before[k]) for k in fast if k.startswith(prefix)), prefix


@needs("mujoco")
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


def test_lean_action_path_equals_sb3_predict_path() -> None:
    """PaperDDPG._sample_action gives SB3's actions and noise sequence: same buffer, same weights after learning."""
    models = []
    for lean in (True, False):  # one after the other: the OU noise draws from numpy's global generator
        model = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=500, seed=3)
        if not lean:
            model._sample_action = lambda *args, model=model, **kwargs: TD3._sample_action(model, *args, **kwargs)
        model.learn(150)  # updates from step 64 on: the actions depend on the learned weights too
        models.append(model)
    lean, sb3 = (m.replay_buffer for m in models)
    np.testing.assert_array_equal(lean.actions, sb3.actions)
    np.testing.assert_array_equal(lean.observations, sb3.observations)
    for key, value in models[0].policy.state_dict().items():
        assert th.equal(value, models[1].policy.state_dict()[key]), key
    assert models[0].action_noise is not None and models[0].action_noise._sigma.any()


def fill(buffer: ReplayBuffer, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        obs, next_obs = rng.normal(size=(2, buffer.n_envs, 17))
        actions = rng.uniform(-1, 1, size=(buffer.n_envs, 6)).astype(np.float32)
        infos = [{"TimeLimit.truncated": bool(rng.random() < 0.5)} for _ in range(buffer.n_envs)]
        buffer.add(obs, next_obs, actions, rng.normal(size=buffer.n_envs), rng.random(buffer.n_envs) < 0.1, infos)


@pytest.mark.parametrize(("n_envs", "optimize_memory_usage"), [(1, False), (2, False), (1, True)])
def test_float32_buffer_samples_sb3_batches(n_envs: int, optimize_memory_usage: bool) -> None:
    """Float32ReplayBuffer: SB3's batch for the same random state, cast to float32 as the networks cast it."""
    space = gym.spaces.Box(-np.inf, np.inf, (17,), np.float64)  # HalfCheetah-v5's: float64, as MuJoCo's envs give
    kwargs = dict(
        n_envs=n_envs, optimize_memory_usage=optimize_memory_usage, handle_timeout_termination=not optimize_memory_usage
    )
    sb3, fast = (cls(300, space, gym.spaces.Box(-1, 1, (6,)), "cpu", **kwargs) for cls in (ReplayBuffer, Float32ReplayBuffer))
    for buffer in (sb3, fast):
        fill(buffer, 400)  # wraps around
    fast = pickle.loads(pickle.dumps(fast))  # save_replay_buffer pickles it; the tensors must share memory again
    fill(fast, 1, seed=1)
    fill(sb3, 1, seed=1)
    assert fast.observations.nbytes * 2 == sb3.observations.nbytes
    np.random.seed(0)
    expected = sb3.sample(64)
    np.random.seed(0)
    batch = fast.sample(64)
    for name, want, got in zip(expected._fields, expected, batch, strict=True):
        if want is None:
            assert got is None
            continue
        assert got.dtype == th.float32 and got.shape == want.shape, name
        assert th.equal(got, want.float()), name


@needs("mujoco")
def test_float32_buffer_learns_like_sb3s_buffer() -> None:
    """Opt-in (replay_buffer_class): the same actions and weights as SB3's ReplayBuffer after learning on MuJoCo."""
    models = []
    for buffer_class in (Float32ReplayBuffer, ReplayBuffer):  # one after the other: numpy's global generator
        model = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=500, seed=3, replay_buffer_class=buffer_class)
        model.learn(120)
        models.append(model)
    assert type(models[0].replay_buffer) is Float32ReplayBuffer
    np.testing.assert_array_equal(models[0].replay_buffer.actions, models[1].replay_buffer.actions)
    for key, value in models[0].policy.state_dict().items():
        assert th.equal(value, models[1].policy.state_dict()[key]), key


def test_graph_adam_equals_torch_adam() -> None:
    """compiled.adam_, the Adam written with tensor ops for the compiled graph, is torch.optim.Adam's update."""
    th.manual_seed(0)
    params = [th.randn(30, 20, dtype=th.float64), th.randn(20, dtype=th.float64)]
    reference = [p.clone().requires_grad_() for p in params]
    optimizer = th.optim.Adam(reference, lr=1e-3, weight_decay=1e-2, foreach=False)
    exp_avgs, exp_avg_sqs = [th.zeros_like(p) for p in params], [th.zeros_like(p) for p in params]
    steps = [th.tensor(0.0) for _ in params]
    for t in range(1, 21):
        grads = [th.randn_like(p) for p in params]
        for p, g in zip(reference, grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
        step_size, bias_correction2_sqrt = (th.tensor(x, dtype=th.float64) for x in bias_corrections(1e-3, 0.9, 0.999, t))
        adam_(params, grads, exp_avgs, exp_avg_sqs, steps, step_size, bias_correction2_sqrt, 0.9, 0.999, 1e-8, 1e-2)
    for p, q in zip(params, reference, strict=True):
        th.testing.assert_close(p, q.detach(), rtol=1e-12, atol=1e-14)
    assert all(step.item() == 20 for step in steps)


def test_graph_adam_scalars_are_the_next_steps_bias_corrections() -> None:
    """GraphAdamStep.ready() fills lr / (1 - beta1^t) and sqrt(1 - beta2^t) for the coming step t, and sends a group
    whose parameters have different step counts to the eager path."""
    params = [nn.Parameter(th.randn(3, 2)), nn.Parameter(th.randn(2))]
    optimizer = th.optim.Adam(params, lr=1e-3, betas=(0.8, 0.99))
    step = GraphAdamStep(optimizer)
    assert not step.ready()  # no Adam state before the first step
    for _ in range(3):
        for p in params:
            p.grad = th.randn_like(p)
        optimizer.step()
    assert step.ready()
    ((step_size, bias_correction2_sqrt),) = step.scalars
    assert step_size.item() == 1e-3 / (1 - 0.8**4)
    assert bias_correction2_sqrt.item() == (1 - 0.99**4) ** 0.5
    optimizer.state[params[1]]["step"] += 1
    assert not step.ready()


def _denormals_flushed() -> bool:
    return th.tensor([1e-323], dtype=th.float64).item() == 0.0


@pytest.mark.filterwarnings("ignore::sb3_ddpg_ext.paper_ddpg.budget.NoGradientStep")
def test_learn_flushes_denormals_and_restores_the_mode(pendulum) -> None:
    """``flush_denormal`` (default True) holds for the whole of ``learn()``, callbacks included, and the process's own
    mode comes back after it; False leaves IEEE denormals in place."""
    from stable_baselines3.common.callbacks import BaseCallback

    seen: list[bool] = []

    class Probe(BaseCallback):
        def _on_step(self) -> bool:
            seen.append(_denormals_flushed())
            return True

    assert not _denormals_flushed()
    model = pendulum()
    model.learn(3, callback=Probe())
    assert seen == [True, True, True] and not _denormals_flushed()
    seen.clear()
    pendulum(flush_denormal=False).learn(3, callback=Probe())
    assert seen == [False, False, False]
    th.set_flush_denormal(True)  # a process that flushes already keeps doing so after learn()
    try:
        model.learn(2, callback=Probe(), reset_num_timesteps=False)
        assert _denormals_flushed()
    finally:
        th.set_flush_denormal(False)

"""Fidelity: the built model matches Lillicrap et al. (2015), section 7. Each test inspects the model, not the source."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from helpers import assert_uniform, env_param, linears, needs
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.budget import NoGradientStep


def batch_norms(module: nn.Module) -> list[nn.BatchNorm1d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm1d)]


def layer_kinds(module: nn.Module) -> list[tuple[str, int]]:
    """The leaf layers in forward order, with their width: ("Linear", out), ("BatchNorm1d", features), ("ReLU", 0)."""
    width = {nn.Linear: "out_features", nn.BatchNorm1d: "num_features"}
    leaves = [m for m in module.modules() if not list(m.children())]
    return [(type(m).__name__, getattr(m, width.get(type(m), ""), 0)) for m in leaves]


def test_layer_shapes_and_order(cheetah: PaperDDPG) -> None:
    """HalfCheetah-v5 (17 state dims, 6 action dims): Linear -> BN -> ReLU in the paper's order, in both networks."""
    obs_dim, act_dim = 17, 6
    assert [(m.in_features, m.out_features) for m in linears(cheetah.actor)] == [(obs_dim, 400), (400, 300), (300, act_dim)]
    assert layer_kinds(cheetah.actor.mu) == [
        ("BatchNorm1d", obs_dim),
        ("Linear", 400),
        ("BatchNorm1d", 400),
        ("ReLU", 0),
        ("Linear", 300),
        ("BatchNorm1d", 300),
        ("ReLU", 0),
        ("Linear", act_dim),
        ("Tanh", 0),
    ]
    # Critic: BN on the state input and on the layer before the action joins; none after it.
    assert layer_kinds(cheetah.critic.state_net) == [
        ("BatchNorm1d", obs_dim),
        ("Linear", 400),
        ("BatchNorm1d", 400),
        ("ReLU", 0),
    ]
    assert layer_kinds(cheetah.critic.q_net) == [("Linear", 300), ("ReLU", 0), ("Linear", 1)]
    assert [(m.in_features, m.out_features) for m in linears(cheetah.critic)] == [
        (obs_dim, 400),
        (400 + act_dim, 300),
        (300, 1),
    ]
    for target, online in ((cheetah.actor_target, cheetah.actor), (cheetah.critic_target, cheetah.critic)):
        for a, b in zip(target.state_dict().values(), online.state_dict().values(), strict=True):
            assert th.equal(a, b)


@needs("mujoco")
def test_action_enters_critic_at_second_layer() -> None:
    critic = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=100, seed=0).critic  # its own: hooks and modes change
    critic.set_training_mode(False)
    seen = {}
    critic.state_net.register_forward_hook(lambda mod, inp, out: seen.__setitem__("h1", out.clone()))
    critic.q_net[0].register_forward_hook(lambda mod, inp, out: seen.__setitem__("in2", inp[0].clone()))
    obs = th.randn(8, 17)
    q_a = critic.q1_forward(obs, th.zeros(8, 6))
    h1_a, in2_a = seen["h1"], seen["in2"]
    q_b = critic.q1_forward(obs, th.ones(8, 6))
    # The first hidden layer does not see the action; the second layer's input is [h1, action].
    assert th.equal(seen["h1"], h1_a)
    assert in2_a.shape == (8, 406)
    assert th.equal(in2_a[:, :400], h1_a) and th.equal(in2_a[:, 400:], th.zeros(8, 6))
    assert th.equal(seen["in2"][:, 400:], th.ones(8, 6))
    assert not th.allclose(q_a, q_b)


@pytest.mark.parametrize("bound", [0.0, 1e-4])
def test_assert_uniform_rejects_small_or_zero_tensors(bound: float) -> None:
    """The check itself: a zero bias, or one drawn from a 30x narrower range, fails for the final-layer bound."""
    with pytest.raises(AssertionError):
        assert_uniform(th.empty(64).uniform_(-bound, bound) if bound else th.zeros(64), 3e-3)


def test_init_bounds() -> None:
    # Pool fresh policies over 64 seeds, so that even the critic's single output bias has 64 samples.
    from sb3_ddpg_ext.paper_ddpg.policies import PaperDDPGPolicy

    # HalfCheetah-v5's spaces: 17 state dims, 6 action dims.
    observation_space, action_space = gym.spaces.Box(-np.inf, np.inf, (17,), np.float64), gym.spaces.Box(-1, 1, (6,))
    models = []
    for seed in range(64):
        th.manual_seed(seed)
        models.append(PaperDDPGPolicy(observation_space, action_space, lambda _: 1e-3))
    checked_biases = 0
    for net in ("actor", "critic"):
        layers = [linears(getattr(m, net)) for m in models]
        for i, layer in enumerate(layers[0]):
            weights = th.cat([ls[i].weight.flatten() for ls in layers])
            is_final = i == len(layers[0]) - 1
            bound = 3e-3 if is_final else 1 / math.sqrt(layer.in_features)
            assert_uniform(weights, bound)
            if layer.bias is not None:  # the layers that feed batch norm have none
                assert_uniform(th.cat([ls[i].bias.flatten() for ls in layers]), bound)
            checked_biases += layer.bias is not None
    assert checked_biases == 3  # actor output, critic layer 2, critic output
    # Critic layer 2: fan-in counts the 6 action inputs, 1/sqrt(406), not 1/sqrt(400).
    w2 = th.cat([linears(m.critic)[1].weight.flatten() for m in models])
    assert w2.abs().max() <= 1 / math.sqrt(406) < 1 / math.sqrt(400)


def test_pixel_final_layer_init() -> None:
    from gymnasium import spaces

    from sb3_ddpg_ext.paper_ddpg.policies import CnnPolicy

    image = spaces.Box(0, 255, (3, 16, 16), dtype=np.uint8)
    action = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    policies = []
    for seed in range(64):  # pooled, so the critic's single output bias has 64 samples
        th.manual_seed(seed)
        policies.append(CnnPolicy(image, action, lambda _: 1e-3))
    for net in ("actor", "critic"):
        finals = [linears(getattr(p, net))[-1] for p in policies]
        assert_uniform(th.cat([f.weight.flatten() for f in finals]), 3e-4)
        assert_uniform(th.cat([f.bias.flatten() for f in finals]), 3e-4)
        network = getattr(policies[0], net)
        assert [m.out_features for m in linears(network)[:2]] == [200, 200]
        assert [m.out_channels for m in network.modules() if isinstance(m, nn.Conv2d)] == [32, 32, 32]
    assert not batch_norms(policies[0])


def weight_decay_per_tensor(optimizer: th.optim.Optimizer) -> dict[int, float]:
    return {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}


def test_optimizers_per_network(cheetah: PaperDDPG) -> None:
    actor_opt, critic_opt = cheetah.actor.optimizer, cheetah.critic.optimizer
    assert type(actor_opt) is th.optim.Adam and type(critic_opt) is th.optim.Adam  # plain L2, not AdamW
    assert [g["lr"] for g in actor_opt.param_groups] == [1e-4]
    assert {g["lr"] for g in critic_opt.param_groups} == {1e-3}
    assert [g["weight_decay"] for g in actor_opt.param_groups] == [0]
    assert {id(p) for g in actor_opt.param_groups for p in g["params"]} == {id(p) for p in cheetah.actor.parameters()}
    assert {id(p) for g in critic_opt.param_groups for p in g["params"]} == {id(p) for p in cheetah.critic.parameters()}
    assert sum(len(g["params"]) for g in critic_opt.param_groups) == len(list(cheetah.critic.parameters()))


def test_critic_l2_on_weights_only(cheetah: PaperDDPG) -> None:
    # Section 7's L2 decays Q's weights: every Linear weight 1e-2, the output layer's included (rllab; OpenAI baselines
    # leaves the output layer out); biases and BN scale/shift 0.
    decay = weight_decay_per_tensor(cheetah.critic.optimizer)
    for layer in linears(cheetah.critic):
        assert decay[id(layer.weight)] == 1e-2
        assert layer.bias is None or decay[id(layer.bias)] == 0
    assert sum(layer.bias is not None for layer in linears(cheetah.critic)) == 2
    for bn in batch_norms(cheetah.critic):
        assert decay[id(bn.weight)] == 0 and decay[id(bn.bias)] == 0
    # critic_l2_on="all": every critic parameter decayed (the behaviour before issue 9).
    every = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=100, critic_l2_on="all", seed=0)
    assert set(weight_decay_per_tensor(every.critic.optimizer).values()) == {1e-2}
    assert len(weight_decay_per_tensor(every.critic.optimizer)) == len(list(every.critic.parameters()))
    # critic_l2_on="hidden_weights": OpenAI baselines' scope, every weight matrix but the output layer's.
    hidden = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=100, critic_l2_on="hidden_weights", seed=0)
    decay = weight_decay_per_tensor(hidden.critic.optimizer)
    layers = linears(hidden.critic)
    assert [decay[id(layer.weight)] for layer in layers] == [1e-2] * (len(layers) - 1) + [0.0]
    assert layers[-1].out_features == 1 and len(decay) == len(list(hidden.critic.parameters()))
    assert all(decay[id(p)] == 0 for p in hidden.critic.parameters() if p.dim() <= 1)
    # critic_weight_decay=0: no L2 anywhere (a BN-stability candidate, not the paper).
    off = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, critic_weight_decay=0.0, seed=0)
    assert set(weight_decay_per_tensor(off.critic.optimizer).values()) == {0.0}
    with pytest.raises(ValueError, match="critic_l2_on"):
        PaperDDPG("MlpPolicy", "Pendulum-v1", critic_l2_on="biases")


def test_learning_rates_stay_separate_after_updates() -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", actor_learning_rate=lambda p: 2e-4 * p, critic_learning_rate=3e-3, seed=0)
    model.learn(200)
    assert model.actor.optimizer.param_groups[0]["lr"] == pytest.approx(2e-4 * model._current_progress_remaining)
    assert model.critic.optimizer.param_groups[0]["lr"] == 3e-3
    assert [g["lr"] for g in model.critic.optimizer.param_groups] == [3e-3, 3e-3]  # weights and the rest
    assert [g["weight_decay"] for g in model.critic.optimizer.param_groups] == [1e-2, 0.0]
    assert model.logger.name_to_value["train/critic_learning_rate"] == 3e-3


def test_paper_defaults(cheetah: PaperDDPG) -> None:
    assert (cheetah.gamma, cheetah.tau, cheetah.batch_size, cheetah.buffer_size) == (0.99, 1e-3, 64, 1000)
    assert PaperDDPG("MlpPolicy", "Pendulum-v1").buffer_size == 1_000_000
    assert (cheetah.train_freq.frequency, cheetah.gradient_steps, cheetah.learning_starts) == (1, 1, 0)


def test_batch_norm_placement(cheetah: PaperDDPG) -> None:
    # Actor: state input and every hidden layer. Critic: state input and the layer before the action input.
    assert [bn.num_features for bn in batch_norms(cheetah.actor)] == [17, 400, 300]
    assert [bn.num_features for bn in batch_norms(cheetah.critic)] == [17, 400]
    assert not batch_norms(cheetah.critic.q_net)
    off = PaperDDPG("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(batch_norm=False))
    assert not batch_norms(off.policy)
    assert layer_kinds(off.actor.mu) == [
        ("Linear", 400),
        ("ReLU", 0),
        ("Linear", 300),
        ("ReLU", 0),
        ("Linear", 1),
        ("Tanh", 0),
    ]


class ModeRecorder(BaseCallback):
    """Checks that actor and critic are in eval mode while the policy acts in the environment. (The targets are not
    used there; the hooks of test_batch_norm_modes_per_phase record each of their BN layers' mode at every call.)"""

    def _on_step(self) -> bool:
        assert (self.model.actor.training, self.model.critic.training) == (False, False)
        return True


RUNNING_STATS = dict(bn_stats_for_y="running", bn_stats_for_policy_gradient="running")  # rllab's reading


def test_no_bias_on_linear_layers_that_feed_batch_norm(cheetah: PaperDDPG) -> None:
    # Batch norm cancels a bias before it (Ioffe & Szegedy 2015, 3.2); rllab's batch_norm() deletes it. Every network,
    # targets included: each Linear followed by a BN layer has no bias, every other Linear has one.
    def feeds_norm(net: nn.Module) -> list[tuple[bool, bool]]:
        leaves = [m for m in net.modules() if not list(m.children())]
        return [
            (isinstance(after, nn.BatchNorm1d), m.bias is not None)
            for m, after in zip(leaves, [*leaves[1:], None], strict=True)
            if isinstance(m, nn.Linear)
        ]

    networks = ("actor", "actor_target", "critic", "critic_target")
    expected = {
        "actor": [(True, False), (True, False), (False, True)],
        "critic": [(True, False), (False, True), (False, True)],
    }
    for name in networks:
        assert feeds_norm(getattr(cheetah, name)) == expected[name.removesuffix("_target")], name
    assert "critic.state_net.1.bias" not in dict(cheetah.policy.named_parameters())
    # bias_before_norm=True: the networks of this package before 0.3.0, a bias everywhere (and fan-in initialized).
    old = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=100, seed=0, policy_kwargs=dict(bias_before_norm=True))
    for name in networks:
        assert all(bias for _, bias in feeds_norm(getattr(old, name))), name
    bias = old.critic.state_net[1].bias
    assert 0 < bias.abs().max() <= 1 / math.sqrt(17)
    # Without batch norm nothing cancels the bias: every layer keeps it.
    off = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=100, seed=0, policy_kwargs=dict(batch_norm=False))
    assert all(bias for name in networks for _, bias in feeds_norm(getattr(off, name)))


@pytest.mark.parametrize("switch", [None, "eval", "train"])
@pytest.mark.parametrize("statistics", ["batch", "running"])
def test_batch_norm_modes_per_phase(statistics: str, switch: str | None) -> None:
    # Section 3 keeps the running statistics for testing: exploration and evaluation. The
    # default reads every update pass as training ("batch": the minibatch's statistics); "running" is rllab's code.
    # A user's torch policy.eval() or policy.train() before learning (an export, a manual evaluation) changes nothing.
    kwargs = RUNNING_STATS if statistics == "running" else {}
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", seed=0, buffer_size=1000, **kwargs)
    if switch is not None:
        getattr(model.policy, switch)()
    assert (model.bn_stats_for_y, model.bn_stats_for_policy_gradient) == (statistics, statistics)
    # Every BN layer of every network, targets included, records its mode at each forward call:
    # (network, batch statistics used, running statistics updated).
    calls: list[tuple[str, bool, bool]] = []
    n_layers = {}
    for name in ("actor", "critic", "actor_target", "critic_target"):
        layers = batch_norms(getattr(model, name))
        n_layers[name] = len(layers)
        for bn in layers:
            bn.register_forward_hook(
                lambda mod, inp, out, name=name: calls.append((name, mod.training, mod.training and mod.track_running_stats))
            )
    assert n_layers == {"actor": 3, "critic": 2, "actor_target": 3, "critic_target": 2}
    model.learn(70, callback=ModeRecorder())  # 64 steps fill one batch, then 7 updates
    n_updates = model._n_updates
    assert n_updates == 7

    def passes(*modes: tuple[str, bool, bool]) -> list[tuple[str, bool, bool]]:
        """Each pass through a network calls all of its BN layers, in one mode."""
        return [mode for mode in modes for _ in range(n_layers[mode[0]])]

    acting = ("actor", False, False)  # exploration: running statistics (eval mode) at every env step
    assert calls.count(acting) == 70 * n_layers["actor"]
    # Each update: y from the targets, the critic's loss (batch statistics, which it tracks), the actor's loss.
    batch = statistics == "batch"
    assert [c for c in calls if c != acting] == n_updates * passes(
        ("actor_target", batch, False),
        ("critic_target", batch, False),
        ("critic", True, True),
        ("actor", True, True),
        ("critic", batch, False),
    )
    # The running statistics move once per gradient step, for both networks (not twice for the critic), and the
    # critic tracks them again after the actor-loss pass.
    for bn in batch_norms(model.critic) + batch_norms(model.actor):
        assert bn.num_batches_tracked.item() == n_updates and bn.track_running_stats
    # Targets carry their own, tau-averaged running statistics (test_target_bn_stats_are_tau_averaged), and the
    # target networks never updated statistics themselves.
    for bn, bn_target in zip(batch_norms(model.critic), batch_norms(model.critic_target), strict=True):
        assert not th.equal(bn.running_mean, bn_target.running_mean)
        assert bn_target.num_batches_tracked.item() == 0
    with pytest.raises(ValueError, match=r"bn_stats_for_y='eval' must be one of .*the default is 'batch'"):
        PaperDDPG("MlpPolicy", "Pendulum-v1", bn_stats_for_y="eval")


def online_and_target_stats(model: PaperDDPG) -> tuple[list[th.Tensor], list[th.Tensor]]:
    def stats(net: nn.Module) -> list[th.Tensor]:
        return [
            b.clone()
            for m in net.modules()
            if hasattr(m, "running_var") or hasattr(m, "ra_var")
            for b in m.buffers()
            if b.is_floating_point()
        ]

    return stats(model.actor) + stats(model.critic), stats(model.actor_target) + stats(model.critic_target)


@pytest.mark.parametrize("policy_kwargs", [{}, {"norm_layer": "batch_renorm"}])
def test_target_bn_stats_are_tau_averaged(policy_kwargs: dict) -> None:
    # Section 3: the target is a time-delayed copy of its network; rllab soft-updates BN statistics with tau too.
    stats = RUNNING_STATS if policy_kwargs else {}  # BatchRenorm1d normalizes with running statistics only
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", tau=0.1, seed=0, buffer_size=1000, policy_kwargs=policy_kwargs, **stats)
    model.learn(64)  # one batch stored, one update
    online, expected = online_and_target_stats(model)
    assert len(online) == 10  # mean and variance of 3 actor + 2 critic norm layers
    for _ in range(5):
        model.train(gradient_steps=1, batch_size=64)
        online, _ = online_and_target_stats(model)
        expected = [(1 - 0.1) * t + 0.1 * o for t, o in zip(expected, online, strict=True)]
    online, target = online_and_target_stats(model)
    for t, e, o in zip(target, expected, online, strict=True):
        th.testing.assert_close(t, e)
        assert not th.allclose(t, o, rtol=1e-3, atol=0)  # not the copy (a mean right after a BN layer is ~1e-10)
    # target_bn_stats="copy": SB3's TD3 behaviour, the online statistics at every update.
    copy = PaperDDPG(
        "MlpPolicy",
        "Pendulum-v1",
        tau=0.1,
        target_bn_stats="copy",
        seed=0,
        buffer_size=1000,
        policy_kwargs=policy_kwargs,
        **stats,
    )
    copy.learn(70)
    for t, o in zip(*reversed(online_and_target_stats(copy)), strict=True):
        assert th.equal(t, o)


@needs("mujoco")
def test_critic_batch_norm_option() -> None:
    # BN in the actor only: a remedy for the critic-BN instability, not the paper (docs/fidelity.md).
    model = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=100, seed=0, policy_kwargs=dict(critic_batch_norm=False))
    assert [bn.num_features for bn in batch_norms(model.actor)] == [17, 400, 300]
    assert not batch_norms(model.critic) and not batch_norms(model.critic_target)
    assert [(m.in_features, m.out_features) for m in linears(model.critic)] == [(17, 400), (406, 300), (300, 1)]
    model.learn(70)
    assert model.policy.critic_batch_norm is False
    # The reverse, BN in the critic only (a diagnostic): critic_batch_norm=True with batch_norm=False.
    critic_only = PaperDDPG("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(batch_norm=False, critic_batch_norm=True))
    assert not batch_norms(critic_only.actor) and [bn.num_features for bn in batch_norms(critic_only.critic)] == [3, 400]


@needs("mujoco")
def test_batch_renorm_option() -> None:
    from sb3_contrib.common.torch_layers import BatchRenorm1d

    kwargs = dict(norm_layer="batch_renorm", norm_layer_kwargs=dict(warmup_steps=5))
    model = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=1000, seed=0, policy_kwargs=kwargs, **RUNNING_STATS)
    # Every BatchNorm1d position now holds a BatchRenorm1d, with the paper's placement.
    assert not batch_norms(model.policy)
    for net, sizes in ((model.actor, [17, 400, 300]), (model.critic, [17, 400])):
        renorms = [m for m in net.modules() if isinstance(m, BatchRenorm1d)]
        assert [m.num_features for m in renorms] == sizes
        assert {m.warmup_steps for m in renorms} == {5}
    assert [type(m).__name__ for m in model.actor.mu][:3] == ["BatchRenorm1d", "Linear", "BatchRenorm1d"]
    model.learn(80)  # 17 updates: past the warm-up, so the renormalization (r, d) is active
    for m in model.critic.modules():
        if isinstance(m, BatchRenorm1d):
            assert m.steps.item() == 17  # moved by the critic's loss pass only
    # With the defaults (batch statistics in the updates) the one line names the settings to pass.
    with pytest.raises(ValueError, match="bn_stats_for_y='running', bn_stats_for_policy_gradient='running'"):
        PaperDDPG("MlpPolicy", "Pendulum-v1", policy_kwargs=kwargs)
    with pytest.raises(ValueError, match="pass bn_stats_for_y='running' with it"):
        PaperDDPG("MlpPolicy", "Pendulum-v1", policy_kwargs=kwargs, bn_stats_for_policy_gradient="running")
    with pytest.raises(ValueError, match="norm_layer"):
        PaperDDPG("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(norm_layer="layer_norm"))


def test_predict_and_evaluation_do_not_touch_running_stats() -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", seed=0, buffer_size=1000)
    model.learn(80)
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        action, _ = model.predict(obs, deterministic=True)
        obs, *_ = env.step(action)
    after = model.policy.state_dict()
    assert all(th.equal(before[k], after[k]) for k in before)


@needs("mujoco")
def test_ou_noise_is_the_paper_process() -> None:
    model = PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=100, seed=0)
    noise = model.action_noise
    assert isinstance(noise, OrnsteinUhlenbeckActionNoise)
    assert (noise._theta, noise._dt) == (0.15, 1.0)
    np.testing.assert_array_equal(noise._sigma, np.full(6, 0.2))
    np.random.seed(0)
    x = np.array([noise() for _ in range(40_000)])[1000:]  # drop the transient from x_0 = 0
    # x_t+1 = (1 - theta) x_t + sigma N(0, 1): lag-1 autocorrelation 1 - theta, std sigma / sqrt(1 - (1 - theta)^2).
    lag1 = np.mean([np.corrcoef(x[:-1, i], x[1:, i])[0, 1] for i in range(6)])
    assert lag1 == pytest.approx(0.85, abs=0.01)
    assert x.std() == pytest.approx(0.2 / math.sqrt(1 - 0.85**2), rel=0.05)
    assert abs(x.mean()) < 0.05


def test_ou_noise_reset_on_done_per_env() -> None:
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    env.envs[0].unwrapped.spec = None
    # Episodes of 5 steps in env 0 and 7 steps in env 1.
    for i, length in enumerate((5, 7)):
        env.envs[i].env = gym.wrappers.TimeLimit(env.envs[i].env.env, max_episode_steps=length)
    model = PaperDDPG("MlpPolicy", env, seed=0, buffer_size=1000)
    model.learn(10)  # 5 steps per env: env 0 just ended an episode, env 1 is mid-episode
    first, second = model.action_noise.noises
    np.testing.assert_array_equal(first.noise_prev, np.zeros(1))
    assert np.all(second.noise_prev != 0)


def test_ou_sigma_decay_option() -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", ou_sigma=0.3, ou_sigma_final=0.05, seed=0, buffer_size=1000)
    model.learn(100)
    assert model.action_noise._sigma == pytest.approx([0.05])
    # A continued learn() follows SB3's progress over both calls' 200 steps, as learning rates do (a resumed run too):
    # its first step's sigma is the one of step 101 of 200, not ou_sigma again.
    sigmas: list[float] = []
    model.learn(100, reset_num_timesteps=False, callback=lambda _l, _g: sigmas.append(model.action_noise._sigma[0]) or True)
    assert max(sigmas) == pytest.approx(0.05 + 0.25 * (1 - 101 / 200)) and sigmas[-1] == pytest.approx(0.05 + 0.25 / 200)
    assert PaperDDPG("MlpPolicy", "Pendulum-v1", ou_sigma=0.0).action_noise is None


def test_explicit_action_noise_wins() -> None:
    from stable_baselines3.common.noise import NormalActionNoise

    noise = NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))
    assert PaperDDPG("MlpPolicy", "Pendulum-v1", action_noise=noise).action_noise is noise
    # An OU setting next to it would have no effect: refused, not ignored.
    with pytest.raises(ValueError, match=r"ou_sigma=0.5 has no effect with action_noise=NormalActionNoise"):
        PaperDDPG("MlpPolicy", "Pendulum-v1", action_noise=noise, ou_sigma=0.5)


class ActionRecorder(BaseCallback):
    """Records (action taken, deterministic policy action) at each env step."""

    def _on_training_start(self) -> None:
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def _on_step(self) -> bool:
        obs = self.locals["self"]._last_obs  # the observation the action was chosen for
        self.pairs.append((self.locals["actions"].copy(), self.model.predict(obs, deterministic=True)[0]))
        return True


def test_warm_up_acts_with_policy_from_first_step() -> None:
    # Paper: the policy (here without noise, to compare exactly) acts from step 1; no uniform warm-up.
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", ou_sigma=0.0, seed=0, buffer_size=1000)
    recorder = ActionRecorder()
    model.learn(10, callback=recorder)
    assert model._n_updates == 0 and len(recorder.pairs) == 10  # every step recorded: the loop below checks them all
    for taken, policy in recorder.pairs:
        np.testing.assert_allclose(taken, policy, atol=1e-6)
    # SB3's uniform-random warm-up stays available.
    uniform = PaperDDPG("MlpPolicy", "Pendulum-v1", ou_sigma=0.0, learning_starts=10, seed=0, buffer_size=1000, batch_size=8)
    recorder = ActionRecorder()
    uniform.learn(11, callback=recorder)
    assert len(recorder.pairs) == 11
    assert not any(np.allclose(taken, policy, atol=1e-3) for taken, policy in recorder.pairs[:10])


def test_updates_start_once_a_batch_is_stored() -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", seed=0, buffer_size=1000)
    with pytest.warns(NoGradientStep, match="batch_size=64 > the 63 transitions stored by total_timesteps=63"):
        model.learn(63)
    assert model._n_updates == 0  # 63 transitions: less than one batch of 64
    model.learn(3, reset_num_timesteps=False)
    assert model._n_updates == 3  # one update per step from the step that completes the first batch


class FixedNoise(ActionNoise):
    """A known noise sequence, large enough to push mu + N past both bounds."""

    def __init__(self, action_dim: int) -> None:
        super().__init__()
        self.values = [np.full(action_dim, v) for v in (1.5, -1.5, 0.3, -0.2, 0.9, -0.8)]
        self.i = 0

    def __call__(self) -> np.ndarray:
        self.i += 1
        return self.values[(self.i - 1) % len(self.values)]


class RecordActions(gym.Wrapper):
    """Records each action the env receives, with the observation the agent acted on."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.log: list[tuple[np.ndarray, np.ndarray]] = []

    def reset(self, **kwargs):
        self.obs, info = self.env.reset(**kwargs)
        return self.obs, info

    def step(self, action):
        self.log.append((np.array(self.obs), np.array(action)))
        self.obs, *rest = self.env.step(action)
        return self.obs, *rest


@pytest.mark.parametrize(
    ("env_id", "low", "high"), [env_param("Pendulum-v1", [-0.5], [3.0]), env_param("Reacher-v5", [-0.5, 0.0], [3.0, 10.0])]
)
def test_env_receives_unscaled_clipped_noisy_action(env_id: str, low: list[float], high: list[float]) -> None:
    # The exploration action of Algorithm 1, a_t = mu(s_t) + N_t, kept inside the bounds: clip(mu + N, -1, 1) in the
    # actor's tanh range, then mapped to [low, high] per dimension. Asymmetric bounds catch a missing offset.
    low_, high_ = np.array(low, dtype=np.float32), np.array(high, dtype=np.float32)
    recorder = RecordActions(gym.wrappers.RescaleAction(gym.make(env_id), low_, high_))
    env = DummyVecEnv([lambda: recorder])
    model = PaperDDPG("MlpPolicy", env, seed=0, buffer_size=1000, action_noise=FixedNoise(len(low)))
    model.learn(30)  # fewer steps than a minibatch: no update, the actor is the one that acted
    assert model._n_updates == 0 and len(recorder.log) == 30
    model.policy.set_training_mode(False)
    clipped = 0
    for i, (obs, action) in enumerate(recorder.log):
        with th.no_grad():
            mu = model.actor(th.as_tensor(obs[None])).numpy()[0]
        scaled = np.clip(mu + model.action_noise.values[i % 6], -1, 1)
        clipped += int(np.any(np.abs(mu + model.action_noise.values[i % 6]) > 1))
        np.testing.assert_allclose(action, low_ + (scaled + 1) / 2 * (high_ - low_), rtol=1e-5, atol=1e-6)
        assert np.all(action >= low_) and np.all(action <= high_)
    assert clipped >= 10  # the bounds were reached, on both sides


def test_time_limit_bootstraps() -> None:
    # Paper silent. A truncation by the time limit is not terminal: SB3's buffer stores it as a timeout and the
    # sampled "done" is 0, so y bootstraps through it (rllab drops the transition instead; docs/fidelity.md).
    model = PaperDDPG("MlpPolicy", gym.make("Pendulum-v1", max_episode_steps=5), seed=0, buffer_size=1000)
    model.learn(20)
    rb = model.replay_buffer
    ends = np.flatnonzero(rb.dones[:20, 0])
    assert list(ends) == [4, 9, 14, 19] and rb.timeouts[ends, 0].all()
    sampled = rb._get_samples(np.arange(20))
    assert sampled.dones.sum().item() == 0

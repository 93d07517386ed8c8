"""Evaluations describe the weights saved next to them: taken after the updates of the steps they are labelled with."""

from pathlib import Path

import numpy as np
import torch as th
from helpers import needs
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.callbacks import EvalAfterUpdates
from sb3_ddpg_ext.envs import make_vec_env


class UpdatesAtEvaluation(BaseCallback):
    """Called after each evaluation (``callback_after_eval``): the updates done and the actor's weights then."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int, th.Tensor]] = []

    def _on_step(self) -> bool:
        weights = th.cat([p.detach().flatten() for p in self.model.actor.parameters()]).clone()
        self.seen.append((self.model.num_timesteps, self.model._n_updates, weights))
        return True


def episode_model() -> PaperDDPG:
    # Updates once per episode (200 steps), as many as the episode's steps: the HER preset's pattern in miniature.
    env = make_vec_env("Pendulum-v1", seed=0)
    return PaperDDPG("MlpPolicy", env, seed=0, buffer_size=1000, train_freq=(1, "episode"), gradient_steps=-1)


def test_evaluation_follows_the_updates_of_its_steps(tmp_path: Path) -> None:
    model = episode_model()
    after = UpdatesAtEvaluation()
    folders = {"best_model_save_path": str(tmp_path), "log_path": str(tmp_path)}
    evaluation = EvalAfterUpdates(
        make_vec_env("Pendulum-v1", seed=1), 200, seed=1, n_eval_episodes=1, callback_after_eval=after, **folders
    )
    model.learn(400, callback=evaluation)
    # Steps 1-200 form the first episode; its 200 updates come after its last step, before the evaluation at 200.
    assert [(step, updates) for step, updates, _ in after.seen] == [(200, 200), (400, 400)]
    final = th.cat([p.detach().flatten() for p in model.actor.parameters()])
    assert th.equal(after.seen[-1][2], final)  # the last evaluation describes the final weights
    best = PaperDDPG.load(tmp_path / "best_model.zip")
    best_step = evaluation.evaluations_timesteps[int(np.argmax([np.mean(r) for r in evaluation.evaluations_results]))]
    expected = dict((step, w) for step, _, w in after.seen)[best_step]
    assert th.equal(th.cat([p.detach().flatten() for p in best.actor.parameters()]), expected)
    assert list(np.load(tmp_path / "evaluations.npz")["timesteps"]) == [200, 400]
    assert not list(tmp_path.glob("*.partial*"))

    # SB3's own EvalCallback, for contrast: its evaluation at step 200 runs before that episode's updates.
    stale = UpdatesAtEvaluation()
    episode_model().learn(
        400,
        callback=EvalCallback(
            make_vec_env("Pendulum-v1", seed=1), eval_freq=200, n_eval_episodes=1, callback_after_eval=stale, verbose=0
        ),
    )
    assert [(step, updates) for step, updates, _ in stale.seen] == [(200, 0), (400, 200)]


def test_evaluation_episodes_depend_on_the_step_not_on_the_history() -> None:
    # Each evaluation seeds its env with seed + step: the same episodes at a step whatever the env ran before (a
    # resumed run's fresh eval env, or another config's), so the returns match exactly.
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", seed=0, buffer_size=1000).learn(400)
    returns = []
    for earlier_resets in (0, 3):
        env = make_vec_env("Pendulum-v1", seed=10_000)
        for _ in range(earlier_resets):
            env.reset()
        evaluation = EvalAfterUpdates(env, 100, seed=10_000, n_eval_episodes=2)
        evaluation.init_callback(model)
        evaluation.evaluate_if_due()
        returns.append(evaluation.evaluations_results[-1])
    assert returns[0] == returns[1] and returns[0][0] != returns[0][1]


def test_model_zip_alone_evaluates_with_its_normalization(tmp_path: Path, capsys) -> None:
    # A model trained on normalized observations, copied without its vecnormalize.pkl, still evaluates with the
    # statistics it was trained with (saved inside model.zip); the Python API says so when given a raw env.
    import pytest

    from sb3_ddpg_ext import cli
    from sb3_ddpg_ext.run import RunConfig, train

    config = RunConfig("Pendulum-v1", 300, eval_every=300, eval_episodes=1, normalize=True, params={"buffer_size": 500})
    result = train(config, tmp_path)
    result.model.save(tmp_path / "model.zip")
    result.model.get_vec_normalize_env().save(str(tmp_path / "vecnormalize.pkl"))
    evaluate = ["evaluate", str(tmp_path / "model.zip"), "--episodes", "2", "--histogram", str(tmp_path / "h.png")]
    assert cli.main(evaluate) == 0
    with_pkl = capsys.readouterr().out.splitlines()[0]
    (tmp_path / "vecnormalize.pkl").unlink()
    assert cli.main(evaluate) == 0
    assert capsys.readouterr().out.splitlines()[0] == with_pkl
    with pytest.warns(
        UserWarning, match=r"trained on normalized observations .* Wrap it: env = sb3_ddpg_ext\.run\.saved_normalization"
    ):
        raw = PaperDDPG.load(tmp_path / "model.zip", env=make_vec_env("Pendulum-v1", seed=0))
    from sb3_ddpg_ext.models import evaluate_episodes

    raw_mean = evaluate_episodes(raw, make_vec_env("Pendulum-v1", seed=0), 2).returns.mean()
    assert f"mean {raw_mean:.2f}," not in with_pkl  # the statistics matter: without them the numbers differ


class SaveAtEvaluation(BaseCallback):
    """After each evaluation of ``run.train``: the model as it was then, saved as ``at_<step>.zip`` in ``folder``."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def _on_step(self) -> bool:
        self.model.save(self.folder / f"at_{self.model.num_timesteps}.zip")
        return True


@needs("box2d")
def test_each_evaluation_plays_in_a_new_env_where_a_reseeded_one_replays_other_episodes() -> None:
    # Box2D keeps its world across resets: BipedalWalker reseeded after other episodes plays other episodes (here,
    # from a PaperDDPG whose actor outputs 0). With make_eval_env (the run layer's), each evaluation plays in a new env,
    # so what it logs is what `sb3-ddpg evaluate --seed eval_seed + step` replays.
    from stable_baselines3.common.logger import configure

    from sb3_ddpg_ext.models import evaluate_episodes

    model = PaperDDPG("MlpPolicy", make_vec_env("BipedalWalker-v3", seed=0), seed=0, buffer_size=1000)
    model.set_logger(configure(None, []))
    with th.no_grad():
        for p in model.actor.mu[-2].parameters():  # the output layer, before tanh: every action is 0
            p.zero_()
    replay = evaluate_episodes(model, make_vec_env("BipedalWalker-v3", seed=10_200), 2).returns
    logged = {}
    for fresh in (False, True):
        make = (lambda: make_vec_env("BipedalWalker-v3", seed=10_000)) if fresh else None
        evaluation = EvalAfterUpdates(
            make_vec_env("BipedalWalker-v3", seed=10_000), 100, 10_000, make, n_eval_episodes=2, verbose=0
        )
        evaluation.init_callback(model)
        for step in (100, 200):
            model.num_timesteps = step
            evaluation.evaluate_if_due()
        logged[fresh] = np.asarray(evaluation.evaluations_results[-1], dtype=float)
    assert np.array_equal(logged[True], replay)
    assert not np.array_equal(logged[False], replay)  # the same env reseeded: not the episodes of step 200's seed


def test_a_saved_model_evaluates_with_the_normalization_of_its_own_step(tmp_path: Path, cli) -> None:
    # best_model.zip is saved mid-run; the folder's vecnormalize.pkl holds the run's last statistics. `evaluate` must
    # replay the logged figure of the saved weights, so it normalizes with the statistics saved with them.
    from sb3_ddpg_ext.envs import eval_seed
    from sb3_ddpg_ext.run import RunConfig, train

    config = RunConfig("Pendulum-v1", 600, eval_every=200, eval_episodes=2, normalize=True, params={"buffer_size": 1000})
    result = train(config, tmp_path, after_evaluation=SaveAtEvaluation(tmp_path))
    result.model.get_vec_normalize_env().save(str(tmp_path / "vecnormalize.pkl"))  # as `sb3-ddpg train` does at its end
    logged = result.evaluation.evaluations_results
    for step, figure in zip((200, 400, 600), logged, strict=True):  # at 600, the pkl's statistics are the model's too
        png = str(tmp_path / f"h{step}.png")
        code, out, err = cli(
            "evaluate",
            str(tmp_path / f"at_{step}.zip"),
            "--seed",
            str(eval_seed(0) + step),
            "--episodes",
            "2",
            "--histogram",
            png,
        )
        assert code == 0, err
        assert f"mean {np.mean(figure):.2f}," in out.splitlines()[0], (step, figure)


def test_evaluate_remakes_the_env_the_model_was_trained_on(tmp_path: Path, cli) -> None:
    # An env made with other kwargs, time limit or wrappers than its id gives: the model records its spec, and
    # `sb3-ddpg evaluate` and training_env_spec() remake that env, not the id's default one.
    import gymnasium as gym
    import pytest

    from sb3_ddpg_ext.models import evaluate_episodes

    made = gym.make("Pendulum-v1", g=2.0, max_episode_steps=50)
    PaperDDPG("MlpPolicy", made, buffer_size=500, seed=0).learn(100).save(tmp_path / "g2.zip")
    model = PaperDDPG.load(tmp_path / "g2.zip")
    spec = model.training_env_spec()
    assert (spec.id, spec.kwargs, spec.max_episode_steps) == ("Pendulum-v1", {"g": 2.0}, 50)
    code, out, _ = cli("evaluate", str(tmp_path / "g2.zip"), "--episodes", "2", "--seed", "5")
    expected = evaluate_episodes(model, make_vec_env("Pendulum-v1", seed=5, spec=spec), 2).returns.mean()
    assert code == 0 and out.startswith(f"Pendulum-v1 (g=2.0, max_episode_steps=50), 2 episodes: mean {expected:.2f},")
    code, default, _ = cli("evaluate", str(tmp_path / "g2.zip"), "--episodes", "2", "--seed", "5", "--env", "Pendulum-v1")
    assert code == 0 and default.startswith("Pendulum-v1, 2 episodes") and f"mean {expected:.2f}," not in default

    # A wrapper: the action space it gives is the model's, so the evaluation runs (the id's env was refused).
    rescaled = gym.wrappers.RescaleAction(gym.make("MountainCarContinuous-v0"), 0.5, 3.0)
    PaperDDPG("MlpPolicy", rescaled, buffer_size=500).learn(100).save(tmp_path / "rescaled.zip")
    code, out, err = cli("evaluate", str(tmp_path / "rescaled.zip"), "--episodes", "1")
    assert code == 0, err
    assert out.startswith("MountainCarContinuous-v0 (max_episode_steps=999, wrapped in RescaleAction(min_action=0.5,")

    # A kwarg JSON cannot hold (a function): one line saying so, and how to evaluate anyway.
    doubled = gym.wrappers.TransformReward(gym.make("Pendulum-v1"), lambda r: 2 * r)
    PaperDDPG("MlpPolicy", doubled, buffer_size=500).learn(100).save(tmp_path / "doubled.zip")
    code, _, err = cli("evaluate", str(tmp_path / "doubled.zip"), "--episodes", "1")
    assert code == 2 and "made with the wrapper TransformReward (values that cannot be saved as JSON)" in err
    assert err.strip().endswith("or pass --env Pendulum-v1 for the id's own env") and len(err.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="the wrapper TransformReward"):
        PaperDDPG.load(tmp_path / "doubled.zip").training_env_spec()
    # A wrapper that does not record its arguments: gym.make(spec) could not remake it. Said at once, not by gymnasium.
    unrecorded = type("Unrecorded", (gym.Wrapper,), {})(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match=r"made with the wrapper Unrecorded \(it does not record its arguments"):
        PaperDDPG("MlpPolicy", unrecorded, buffer_size=500).training_env_spec()
    # Nested time limits: the inner, shorter one truncates the episodes; gymnasium's spec gives the outer one.
    nested = gym.wrappers.TimeLimit(gym.make("Pendulum-v1", max_episode_steps=20), 500)
    assert PaperDDPG("MlpPolicy", nested, buffer_size=500).training_env_spec().max_episode_steps == 20

    # Made from the id alone: nothing recorded, and the id's registered spec.
    plain = PaperDDPG("MlpPolicy", gym.make("Pendulum-v1"), buffer_size=500)
    assert plain.env_spec is None and plain.training_env_spec() == gym.spec("Pendulum-v1")

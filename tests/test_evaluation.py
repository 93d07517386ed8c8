"""Evaluations describe the weights saved next to them: taken after the updates of the steps they are labelled with."""

from pathlib import Path

import numpy as np
import torch as th
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

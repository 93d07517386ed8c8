"""FetchReach-v4 with the HER paper's preset: deterministic success rate every CHUNK steps (how tests/test_her.py's
budget was chosen). One torch thread. Usage: python benchmarks/her_fetchreach.py SEED STEPS [CHUNK]"""

import sys
import time

import torch as th

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.envs import eval_seed, make_vec_env
from sb3_ddpg_ext.models import evaluate_episodes
from sb3_ddpg_ext.presets import her_paper, her_paper_env

th.set_num_threads(1)
seed, steps = int(sys.argv[1]), int(sys.argv[2])
chunk = int(sys.argv[3]) if len(sys.argv) > 3 else 500
env = her_paper_env(make_vec_env("FetchReach-v4", seed=seed))  # the id imports gymnasium-robotics (sb3_ddpg_ext.envs)
eval_env = her_paper_env(make_vec_env("FetchReach-v4", seed=eval_seed(seed)), training=False)
model = PaperDDPG("MultiInputPolicy", env, seed=seed, **her_paper(env))
start = time.time()
for _ in range(steps // chunk):
    model.learn(chunk, reset_num_timesteps=False)
    eval_env.obs_rms = env.obs_rms
    rate = evaluate_episodes(model, eval_env, 10).success_rate
    print(f"seed {seed}  steps {model.num_timesteps}  success rate {rate:.2f}  {time.time() - start:.0f} s", flush=True)

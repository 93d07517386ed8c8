#!/usr/bin/env bash
# HER-paper preset on the Fetch tasks, one CPU worker, one torch thread: success rate against env steps
# (deterministic evaluation of 20 episodes every 5000 steps, in each run's evaluations.csv). docs/results.md.
# Usage: benchmarks/her_fetch.sh OUT_DIR PUSH_STEPS PICK_STEPS   (FetchPush-v4 seeds 0 and 1, then FetchPickAndPlace-v4 seed 0)
set -uo pipefail  # an interrupted run (Ctrl-C: model and log saved, exit 130) does not stop the next one
out=${1:-runs/her_fetch}; push_steps=${2:-50000}; pick_steps=${3:-250000}
common=(--preset her-paper --eval-every 5000 --eval-episodes 20 --threads 1 --no-progress-bar)
for seed in 0 1; do
  sb3-ddpg train --env FetchPush-v4 --timesteps "$push_steps" --seed "$seed" --out "$out/FetchPush-v4_$seed" "${common[@]}"
done
sb3-ddpg train --env FetchPickAndPlace-v4 --timesteps "$pick_steps" --seed 0 --out "$out/FetchPickAndPlace-v4_0" "${common[@]}"

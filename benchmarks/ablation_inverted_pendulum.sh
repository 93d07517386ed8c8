#!/bin/bash
# Issue 20's InvertedPendulum-v5 ablation (docs/ablation_inverted_pendulum.md): `paper` with one of zoo-ddpg's values
# each, 50k steps, 3 seeds, evaluated every 2.5k. The L2 runs first (the first seed pointed there), then batch norm and
# all of zoo-ddpg's values together, then the rest; then leave-one-out: all of zoo-ddpg's values but one, whose paper
# value is back. Finished runs are skipped and unfinished ones resume, so the same command continues it in a later
# session. From the repository root:
#   OMP_NUM_THREADS=1 nice -n 19 bash benchmarks/ablation_inverted_pendulum.sh
# (RESULTS=absolute folder and PYTHON=interpreter override the defaults; the checkpoint key derives from RESULTS.)
# Each phase runs whatever the one before left unfinished (reproduce.py exits 1 then, having said why): no `set -e`.
PYTHON=${PYTHON:-python}
R=${RESULTS:-$(pwd)/benchmarks/results/zoo_values_ablation}
COMMON="--task InvertedPendulum-v5 --steps 50000 --eval-every 2500 --seeds 0 1 2 --jobs 2 --results $R"
$PYTHON benchmarks/reproduce.py run $COMMON --configs paper paper-no-l2 paper-l2-hidden
$PYTHON benchmarks/reproduce.py run $COMMON --configs paper-no-bn paper-zoo-values paper-batch-256 paper-gaussian-0.1 \
  paper-warmup-10k paper-tau-5e-3 paper-actor-lr-1e-3
$PYTHON benchmarks/reproduce.py run $COMMON --configs zoo-values-but-no-l2 zoo-values-but-tau-5e-3 \
  zoo-values-but-actor-lr-1e-3 zoo-values-but-no-bn zoo-values-but-gaussian-0.1 zoo-values-but-batch-256 \
  zoo-values-but-warmup-10k

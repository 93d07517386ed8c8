#!/usr/bin/env bash
# Issue 19's figures, for a quiet window: pause the background campaign and run nothing else. About 8-10 minutes
# (two Inductor compiles per env are most of the variance: ~25 s each with a warm cache in /tmp/torchinductor_*,
# up to ~2 minutes cold).
#
#   PYTHON=/work/main/.venv/bin/python bash benchmarks/throughput_round3.sh 2>&1 | tee throughput_round3.log
#
# Prints: the machine, commit and load; ms per update of each update path next to SB3's and SBX's DDPG
# (profile_update.py, HalfCheetah-v5); env steps/s of PaperDDPG (eager and compiled), SB3 DDPG and SBX DDPG on
# Pendulum-v1 and HalfCheetah-v5 with ratios (throughput.py); the load again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

load() { echo "# $(date -Is) load: $(cut -d' ' -f1-3 /proc/loadavg)"; }
echo "# commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (uncommitted changes)'), $(nproc) cores," \
    "$("$PYTHON" -c 'import torch, sb3_ddpg_ext; print("torch", torch.__version__, "from", sb3_ddpg_ext.__file__)')"
if pgrep -f benchmarks/reproduce.py >/dev/null; then echo "# WARNING: benchmarks/reproduce.py is running: not a quiet window"; fi
load

echo "## 1. ms per update, update alone (5 x 200 updates, interleaved, medians)"
"$PYTHON" benchmarks/profile_update.py --env HalfCheetah-v5 --updates 200 --repeats 5 --variants \
    "PaperDDPG (default)" "PaperDDPG, Optimizer.step" "PaperDDPG, compile_update" \
    "PaperDDPG, compile_update cpp_wrapper" "PaperDDPG, no batch norm"
load

echo "## 2. env steps/s at the paper's settings (5 x 800 steps, interleaved, medians)"
"$PYTHON" benchmarks/throughput.py --envs Pendulum-v1 HalfCheetah-v5 --steps 800 --repeats 5 --compile-update cpp_wrapper
load

# Quick start: `make run` trains the paper's DDPG on Pendulum-v1, `make test` type-checks, lints and runs the test suite.
# Both build .venv with the pinned versions of constraints.txt (torch 2.13.0 CPU among them).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= zoo,tune,mujoco,box2d,robotics,pixels,test
SOURCES := $(shell find sb3_ddpg_ext -name '*.py') sb3_ddpg_ext/version.txt $(wildcard zoo_configs/*.yml tuning/*.yaml) pyproject.toml constraints.txt

.PHONY: install run test type bench lint format clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# mujoco 4.x splits into mujoco-core (which owns the mujoco/ package files) and mujoco-studio; the robotics extra
# pins mujoco 3.11 (constraints.txt), so a venv that had 4.x drops all three before installing it.
$(VENV)/.installed: $(BIN)/activate $(SOURCES)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" -c constraints.txt
	if $(BIN)/python -m pip show --quiet mujoco-core 2>/dev/null; then \
		$(BIN)/python -m pip uninstall --quiet --yes mujoco mujoco-core mujoco-studio; fi
	$(BIN)/python -m pip install --quiet -c constraints.txt ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

# What to expect: docs/bn_stability.md (the defaults, 30k steps, deterministic evaluation, IQM of 5 seeds).
run: install
	$(BIN)/sb3-ddpg train --env Pendulum-v1 --timesteps 30000 --seed 0 --eval-every 5000 --out runs/pendulum --overwrite
	$(BIN)/sb3-ddpg evaluate runs/pendulum/model.zip --env Pendulum-v1 --episodes 20
	@echo "Expected at 30k steps with the paper's defaults: about -161 (IQM of 5 seeds, 95% CI [-220, -149]; docs/bias_before_bn.md). A random policy scores about -1200."
	@echo "With rllab's reading of batch norm (-p bn_stats_for_y=running -p bn_stats_for_policy_gradient=running) the same agent stays near -925 at 30k."

# Every extra is installed here, so SB3_DDPG_TEST_STRICT=1 makes a missing one an error, not a skip (tests/helpers.py).
test: install type lint
	SB3_DDPG_TEST_STRICT=1 $(BIN)/pytest -n 2 -q

# mypy at stable-baselines3's settings on the package and benchmarks/ ([tool.mypy] in pyproject.toml), as SB3's `make type`.
type: install
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/throughput.py

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) runs build *.egg-info

"""A study's report: paper vs best, importances, Optuna's plots, an rl-zoo3 entry, and a re-test on fresh seeds."""

import difflib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sb3_ddpg_ext import plots
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.search_space import PAPER_PARAMS
from sb3_ddpg_ext.tune.objective import objective
from sb3_ddpg_ext.tune.spec import StudySpec


def write_report(storage: Any, study_name: str, out: Path, fresh_seeds: int = 0) -> str:
    """Paper vs best and importances as markdown; writes the plots, ``report.md`` and a ready rl-zoo3 YAML entry."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError as e:
        names = optuna.get_all_study_names(storage)
        close = [f"'{n}'" for n in difflib.get_close_matches(study_name, names, n=1)]
        known = f"did you mean {close[0]}? " if close else ""
        known += f"studies here: {', '.join(names)}" if names else "this storage holds no study"
        raise UserError(f"no study named '{study_name}' in this storage; {known}") from e
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise UserError(f"study '{study_name}' has no complete trial yet")
    spec = StudySpec.from_dict(study.user_attrs["spec"])
    best = study.best_trial
    papers = [t for t in study.trials if t.user_attrs.get("paper_defaults")]  # a re-queued paper trial repeats it
    paper = next((t for t in papers if t.state == optuna.trial.TrialState.COMPLETE), papers[0] if papers else None)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Study '{study_name}': PaperDDPG on {spec.env_id}", ""]
    counts = {s.name: sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}
    budgets = {t.number: trial_budget(t, spec) for t in study.trials if t.state.is_finished()}
    kind = best.user_attrs.get("value_is") or "return (success rate on goal-conditioned envs)"  # before 0.5.1: unsaid
    lines.append(
        f"Trials: {', '.join(f'{k.lower()} {v}' for k, v in counts.items() if v)}. "
        f"Value = mean final deterministic {kind} over {spec.eval_episodes} episodes."
    )
    by_budget: dict[str, list[int]] = {}
    for number, text in budgets.items():
        by_budget.setdefault(text, []).append(number)
    if len(by_budget) <= 1:
        lines.append(f"Budget per trial: {trial_budget(None, spec)}.")
    else:
        parts = [f"{text} for trial(s) {', '.join(f'#{n}' for n in numbers)}" for text, numbers in by_budget.items()]
        lines.append(f"Budgets differ (the study was resumed with --allow-spec-change): {'; '.join(parts)}.")
    header = "| trial | value | " + " | ".join(spec.search_space) + " | budget |"
    lines += ["", header, "|---" * (3 + len(spec.search_space)) + "|"]
    for label, t in (("paper", paper), ("best", best)):
        if t is None:
            continue
        value = f"{t.value:.2f}" if t.value is not None else t.state.name.lower()
        params = " | ".join(f"{t.params.get(k, float('nan')):.3g}" for k in spec.search_space)
        lines.append(f"| {label} (#{t.number}) | {value} | {params} | {budgets.get(t.number, '')} |")
    if len(complete) >= 2:
        importances = optuna.importance.get_param_importances(study)
        lines += ["", "Parameter importances: " + ", ".join(f"{k} {v:.2f}" for k, v in importances.items())]
    names = ["optimization_history", "parallel_coordinate"] + (["param_importances"] if len(complete) >= 2 else [])
    lines += ["", *(f"![{p.stem}]({p.name})" for p in plots.optuna_plots(study, out, names, f"{study_name} ({spec.env_id})"))]
    zoo_yaml = out / "paper_ddpg_tuned.yml"
    zoo_yaml.write_text(zoo_entry(trial_spec(best, spec), best))
    lines += ["", f"rl-zoo3 entry: {zoo_yaml.name}"]
    if fresh_seeds:
        paper_params = paper.params if paper else PAPER_PARAMS
        lines += ["", *validate_on_fresh_seeds(trial_spec(best, spec), paper_params, best.params, fresh_seeds)]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


def trial_spec(trial: Any, spec: StudySpec) -> StudySpec:
    """The study's spec with the budget ``trial`` ran under (a study resumed with ``--allow-spec-change`` has several):
    the zoo entry and the fresh-seed re-test of the best trial use its own."""
    budget = dict(trial.user_attrs.get("budget") or {})
    if "env_wrapper" in budget and budget["env_wrapper"] is None:  # recorded as None for none (workers._comparable)
        budget["env_wrapper"] = []
    return StudySpec.from_dict({**spec.to_dict(), **budget})


def trial_budget(trial: Any, spec: StudySpec) -> str:
    """A trial's budget as recorded when it ran (``budget`` attribute), else the study's."""
    # A trial of 0.5.0 recorded fewer keys: the others are the study's (what it ran under, as far as is known).
    b = {**spec.to_dict(), **((trial.user_attrs.get("budget") if trial is not None else None) or {})}
    settings = [f"{k} {b[k]}" for k in ("policy", "preset", "env_wrapper", "normalize") if b.get(k)]
    return f"{b['timesteps']} steps x {b['n_seeds']} seeds, evaluated every {b['eval_every']} steps" + "".join(
        f", {setting}" for setting in settings
    )


def zoo_entry(spec: StudySpec, best: Any) -> str:
    """An rl-zoo3 YAML entry: the paper's settings with the study's best values (for zoo_configs/)."""
    base = {"policy": spec.policy or "MlpPolicy", **PaperDDPG.paper_hyperparameters()}
    if spec.preset == "her-paper":  # the preset's rl-zoo3 form, zoo_configs/paper_ddpg_her.yml
        from sb3_ddpg_ext.resources import her_zoo_config

        base = yaml.safe_load(her_zoo_config().read_text())["FetchReach-v4"]
    settings: dict[str, Any] = {}  # the env the values were tuned on, in rl-zoo3's keys (a dict normalize as a string)
    if spec.normalize:
        kwargs = spec.normalize if isinstance(spec.normalize, dict) else {}
        settings["normalize"] = f"dict({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})" if kwargs else True
    if spec.env_wrapper:
        settings["env_wrapper"] = list(spec.env_wrapper)
    entry = {**base, **settings, "n_timesteps": spec.timesteps, **spec.fixed, **best.params}
    others = "the her-paper preset's (zoo_configs/paper_ddpg_her.yml)" if spec.preset == "her-paper" else "paper defaults"
    header = f"# Tuned by Optuna study '{spec.name}' (trial #{best.number}, value {best.value:.2f}); other values: {others}\n"
    return header + yaml.safe_dump({spec.env_id: entry}, sort_keys=False)


def validate_on_fresh_seeds(spec: StudySpec, paper: dict[str, float], best: dict[str, float], n_seeds: int) -> list[str]:
    """Re-train the paper and best configurations on seeds the study never used; IQM and 95% CIs via rliable."""
    import optuna

    from sb3_ddpg_ext.stats import iqm_ci

    first = spec.seed + 1000
    scores: dict[str, np.ndarray] = {}
    same = {k: paper.get(k) for k in best} == best  # the best trial is the paper's configuration: trained once
    configs = (("paper", paper),) if same else (("paper", paper), ("best", best))
    for label, params in configs:
        finals = []
        for k in range(n_seeds):
            done = len(scores) * n_seeds + k
            print(
                f"fresh seeds: run {done + 1}/{len(configs) * n_seeds} ({label}, seed {first + k}, {spec.timesteps} steps)",
                file=sys.stderr,
                flush=True,
            )
            one = StudySpec.from_dict({**spec.to_dict(), "seed": first + k, "n_seeds": 1, "study_name": None})
            trial = optuna.trial.FixedTrial(params)
            finals.append(objective(trial, one))
            kind = trial.user_attrs["value_is"]  # what the runs measured: a success rate on goal-conditioned envs
        scores[label] = np.array(finals)[:, None]
    lines = [f"Fresh seeds {first}..{first + n_seeds - 1} (never used by the study), final {kind}:", ""]
    if same:
        scores["best"] = scores["paper"]
        lines[1:1] = ["", "The best trial has the paper's values: its row repeats the paper's runs."]
    lines += ["| config | mean | IQM | 95% CI of IQM | per seed |", "|---|---|---|---|---|"]
    for label in ("paper", "best"):
        iqm, low, high = iqm_ci(scores[label])
        digits, seed_digits = (2, 2) if kind == "success rate" else (1, 0)  # a success rate of 0.33 is not "0"
        per_seed = ", ".join(f"{x:.{seed_digits}f}" for x in scores[label][:, 0])
        mean = scores[label].mean()
        lines.append(
            f"| {label} | {mean:.{digits}f} | {iqm:.{digits}f} | [{low:.{digits}f}, {high:.{digits}f}] | {per_seed} |"
        )
    return lines

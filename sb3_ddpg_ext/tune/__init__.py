"""Optuna studies over PaperDDPG's tau, actor and critic learning rates and OU sigma.

- ``spec``: the study spec (``tuning/*.yaml``) and its checks;
- ``storage``: journal file (embedded default) or PostgreSQL;
- ``objective``: sample, build, train, evaluate, report, prune;
- ``workers``: sampler, pruner, the paper trial, exactly ``n_trials`` across workers, dead workers' trials re-queued;
- ``report``: paper vs best, importances, plots, rl-zoo3 entry, fresh-seed re-test.

Any number of workers started anywhere with the same storage and study name share the study.
"""

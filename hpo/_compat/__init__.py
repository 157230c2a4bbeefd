"""Every use of a private Ray or Optuna API, one module per library.

Nothing else in hpo may reach into ``ray._private``, ``ray.train._internal``,
``optuna.storages._rdb`` or an underscored attribute of a Ray or Optuna object.
Each helper here says what it relies on and what it falls back to, and
``tests/compat`` holds a canary test per helper that fails loudly when an
installed version moves the structure it reads.
"""

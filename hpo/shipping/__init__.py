"""Shipping a search's result: robust pick, promotion bundle, final model, warm start.

One concept per module, each importable without Ray, torch or Optuna:

* :mod:`hpo.shipping.interval`: mean, spread and 95 % interval of seed scores; the pick.
* :mod:`hpo.shipping.selection`: the selection split finalists are scored on.
* :mod:`hpo.shipping.finalize`: re-run the top configs over seeds as Ray trials.
* :mod:`hpo.shipping.bundle`: the promotion bundle (config + provenance), read and written.
* :mod:`hpo.shipping.train`: the final model from a bundle.
* :mod:`hpo.shipping.warm_start`: seed a new search with earlier studies' best configs.
* :mod:`hpo.shipping.keys`: the store attributes all of them write (documented in
  ``docs/shipping.md``).
"""

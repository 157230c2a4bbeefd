"""Helpers of ``benchmarks/finetune_vs_peers.py`` and ``benchmarks/trial_throughput.py``.

One module per concept: the tasks and their data (:mod:`.tasks`, :mod:`.fortunes`),
the plain PyTorch loop a user would write (:mod:`.plain_loop`), one module per method
compared (:mod:`.hpo_method`, :mod:`.ray_method`, :mod:`.trainer_method`,
:mod:`.recipe_method`), and the results file with its summary (:mod:`.results`).
Heavy libraries are imported inside functions, so ``--help`` and ``--summary`` stay fast.
"""

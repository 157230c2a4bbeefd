"""A driver without Ray for the reliability tests: hpo's own claim-and-record path.

``python -m tests.reliability._writer URL STUDY SPACE TOTAL [PAUSE]`` opens the study
(:func:`hpo.storage.open_study`) and runs trials through a :class:`Ledger` (the same
claim, lock, heartbeat-stamp and write path ``hpo run`` uses) until the study's
budget of TOTAL trials is used, each trial reporting ``score = x * step`` for each step
with PAUSE seconds between reports. Each trial it finished is printed as one JSON line
``{"number": N, "value": V}``; a store lost past the retry window ends it with exit 5.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time


def main(argv: list[str]) -> int:
    url, study_name, space, total = argv[0], argv[1], argv[2], int(argv[3])
    pause = float(argv[4]) if len(argv) > 4 else 0.0
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from hpo.execution._ledger import Ledger
    from hpo.execution._study_lock import StudyLock
    from hpo.spaces import define_by_run, load_space
    from hpo.storage import StoreUnavailable, open_storage, open_study
    from hpo.trainables._wrap import CONTEXT_KEY

    spec = load_space(space)
    store = open_storage(url)
    study = open_study(spec, study_name, store)
    lock = StudyLock(url, study_name)
    ledger = Ledger(study, spec, define_by_run(spec), total, storage=store, lock=lock,
                    driver=f"writer:{os.getpid()}")
    steps = spec.budget.max_steps
    try:
        i = 0
        while True:
            rid = f"{os.getpid()}-{i}"
            i += 1
            config = ledger.start(rid)
            if config is None:
                break
            for step in range(1, steps + 1):
                ledger.record(rid, {"training_iteration": step, "score": config["x"] * step})
                time.sleep(pause)
            ledger.finish(rid)
            entry = ledger.entry(rid)
            assert entry is not None
            print(json.dumps({"number": config[CONTEXT_KEY]["number"], "value": entry.best}),
                  flush=True)
        ledger.close_all("interrupted", "writer ended")
        ledger.close()
    except StoreUnavailable as lost:
        message = str(lost)
        try:
            ledger.close_all("interrupted", "the store is unreachable")
        except StoreUnavailable as final:  # says where the results went
            message = str(final)
        print(f"writer: search stopped: {message}", file=sys.stderr, flush=True)
        return 5
    finally:
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Ray Tune's trainable lookups, answered from memory while a search runs.

Ray Tune keeps the trainable in its registry in the GCS's key-value store and looks
it up again for every trial it creates: an existence check when the trial object is
made, and a read plus an unpickling each time it computes the trial's resources and
schedules its actor, five requests to the GCS per trial. On a busy 2-core driver
they cost 10-20 ms of the driver loop per trial, between one trial's end and the
next one's start. The registered trainable does not change while ``Tuner.fit``
runs, so :func:`memoized_trainable_lookups` answers repeated lookups from the first
answer; registering or removing anything clears the memo. Ray's registry is a
private structure, so the work is done in :mod:`hpo._compat.ray` (with a canary
test); if it moves, Ray's own lookups run unchanged.
"""

from __future__ import annotations

from hpo._compat.ray import memoized_trainable_lookups

__all__ = ["memoized_trainable_lookups"]

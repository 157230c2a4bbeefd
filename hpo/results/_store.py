"""Read hpo studies from an Optuna RDB storage, fast and while a search writes to it.

The one reader of stored studies: the CLI (``hpo studies``, ``show``, ``best``), the
dashboard and the static report all take their :class:`StudySnapshot` from a
:class:`Store`.

Optuna's ``RDBStorage.get_all_trials`` builds ORM objects for every row and
re-reads the whole study on every call, which takes seconds for a study of
10,000 trials. The store instead reads Optuna's tables (the schema is
Optuna's own; its table objects come from :func:`hpo._compat.optuna.rdb_tables`, behind
that module's canary test) with a few bulk SELECTs, keeps finished trials in
memory, and on each refresh re-reads only trials that are new, unfinished, or
finished so recently that a writer may still be adding attributes to them.

That raw SQL was checked against one schema version. When the storage's schema
version, or the installed Optuna's, is not that one, or the models module moved
(:func:`hpo._compat.optuna.rdb_fast_path_ok` says which), the store logs one warning
and reads through Optuna's public API instead (``optuna.load_study`` and
``Study.get_trials``): the same snapshots, each refresh re-reading the whole study.

Per-step metric histories (``hpo:metrics:*``, most of a study's bytes) are read
only once something asks for them: a snapshot taken with ``metrics=True`` loads
them for the whole study, and from then on every refresh of that study keeps them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from hpo._compat import optuna as _optuna_compat
from hpo.storage import attrs, resolve_url

if TYPE_CHECKING:
    import optuna
    import sqlalchemy as sa
    from optuna.distributions import BaseDistribution

    # rows(table, *columns, where=None): (trial_id, *columns) tuples, see Store._rows_reader
    _Rows = Callable[..., Iterator[tuple[Any, ...]]]

_T = TypeVar("_T")

_log = logging.getLogger(__name__)

FINISHED = frozenset({"COMPLETE", "PRUNED", "FAIL"})
# A finished trial is re-read until it has looked finished for this long: hpo
# may write the stop explanation just after Optuna's state change, and a
# reader that is not inside one snapshot can see a half-written trial.
SETTLE_S = 10.0
_CHUNK = 500  # ids per IN (...) clause; SQLite caps bound variables.
_METRICS_LIKE = attrs.METRICS_PREFIX + "%"  # the prefix holds no LIKE wildcards


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a refresh builds trial records.

    A first read of 10,000 trials builds about a million objects, and the collector,
    counting them as they survive, walked the growing heap over and over: 0.15-0.17 s of
    a 0.58-0.68 s read (measured). The records are plain data without reference
    cycles, freed by reference counting either way. Re-entrant and thread-safe: the
    collector resumes when the last pauser ends, and only if it was running before.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


class StoreError(RuntimeError):
    """The storage cannot be opened or read, or a study is missing."""


class StoreNotFound(StoreError):
    """Nothing was ever written there: no SQLite file, or a database without tables."""


class StudyNotFound(StoreError):
    """The storage has no study of that name."""


@dataclass(slots=True)
class TrialRecord:
    """One trial as hpo's readers see it (times are UTC epoch seconds).

    ``trial_id`` is the storage's trial id; when the store reads through Optuna's public
    API (which does not expose it) it is the trial number, likewise unique in the study.
    """

    trial_id: int
    number: int
    state: str
    start: float | None
    complete: float | None
    values: tuple[float, ...] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StudyMeta:
    """Study-level facts: name, directions and hpo's study attributes."""

    study_id: int
    name: str
    directions: tuple[str, ...]
    user_attrs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StudySnapshot:
    """A consistent view of one study; ``revision`` changes whenever its trials do."""

    meta: StudyMeta
    trials: tuple[TrialRecord, ...]
    revision: int
    read_at: float
    has_metrics: bool = False  # the trials' user_attrs hold their hpo:metrics:* histories


def _epoch(value: dt.datetime | str | None) -> float | None:
    # Optuna stores naive UTC datetimes in RDB storages.
    if value is None:
        return None
    if isinstance(value, str):  # SQLite without type conversion
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc).timestamp()


def _name(value: Any) -> str:
    return getattr(value, "name", None) or str(value)


_SPECIAL = {"INF_POS": math.inf, "INF_NEG": -math.inf, "NAN": math.nan}


class Store:
    """Thread-safe reader of one Optuna RDB storage with a per-study trial cache.

    Args:
        url: SQLAlchemy URL of the storage, e.g. ``sqlite:///hpo-results/hpo.db``; None:
            :func:`hpo.storage.resolve_url`'s default. Reading never creates anything.

    Attributes:
        url: the storage URL read.
        fallback_reason: why this store reads through Optuna's public API instead of
            its own SQL, or None when it uses its own SQL.

    Raises:
        StoreNotFound: nothing was written there yet (no SQLite file, no tables).
        StoreError: the URL cannot be opened or is not an Optuna storage.
    """

    def __init__(self, url: str | None = None) -> None:
        import sqlalchemy as sa

        url = resolve_url(url)
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:" and not os.path.exists(path):
                raise StoreNotFound(f"storage {url!r}: no such file {path!r}")
            # Writers hold the lock briefly; wait rather than fail the request.
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        try:
            self._engine = sa.create_engine(url, **kwargs)
            with self._engine.connect() as conn:
                names = set(sa.inspect(conn).get_table_names())
        except Exception as exc:  # the driver's own error type varies by dialect
            raise StoreError(f"storage {url!r} cannot be opened: {exc}") from exc
        if not names:
            self._engine.dispose()
            raise StoreNotFound(f"storage {url!r} holds no tables: nothing was written to it")
        if not {"studies", "trials", "version_info"} <= names:
            self._engine.dispose()
            raise StoreError(f"storage {url!r} is not an Optuna storage (no 'trials' table)")
        self._sa = sa  # imported here, not with this module: the CLI's help stays light
        self._lock = threading.Lock()
        self._caches: dict[str, _StudyCache] = {}
        self._dists: dict[str, BaseDistribution] = {}
        self._t: dict[str, sa.Table] = {}  # the tables, when reading with our own SQL
        # Optuna's storage, when reading through its public API instead.
        self._storage: optuna.storages.RDBStorage | None = None
        self.fallback_reason: str | None = self._choose_reader(kwargs)

    def _choose_reader(self, engine_kwargs: dict[str, Any]) -> str | None:
        """Our own SQL when :func:`~hpo._compat.optuna.rdb_fast_path_ok` allows it (None),
        else Optuna's public API: keeps its storage and returns why, warning once."""
        import optuna

        storage = None
        try:
            # Neither creates tables nor refuses another schema: this only reads.
            storage = optuna.storages.RDBStorage(
                self.url, engine_kwargs=dict(engine_kwargs), skip_compatibility_check=True,
                skip_table_creation=True)
            ok, why = _optuna_compat.rdb_fast_path_ok(storage)
        except Exception as exc:  # the driver's, alembic's or Optuna's error
            if storage is not None:
                storage.engine.dispose()
            self._engine.dispose()
            raise StoreError(f"storage {self.url!r}: its schema version cannot be read: "
                             f"{exc}") from exc
        if ok:
            self._t = _optuna_compat.rdb_tables()
            storage.engine.dispose()
            return None
        self._storage = storage
        _log.warning("storage %s: reading it through Optuna's public API, which re-reads "
                     "whole studies on every refresh, because %s", self.url, why)
        return why

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()
        if self._storage is not None:
            self._storage.engine.dispose()

    def _run(self, fn: Callable[[sa.Connection], _T]) -> _T:
        # SQLite answers "database is locked" past its timeout under heavy
        # writing; a reader can always just try again.
        for attempt in range(5):
            try:
                with self._engine.connect() as conn:
                    return fn(conn)
            except self._sa.exc.OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def study_names(self) -> list[str]:
        """Names of all studies, in creation order."""
        if self._storage is not None:
            import optuna

            storage = self._storage
            return list(self._public(lambda: optuna.study.get_all_study_names(storage)))
        s = self._t["studies"]
        rows = self._run(lambda c: c.execute(self._sa.select(s.c.study_name)
                                             .order_by(s.c.study_id)).all())
        return [r[0] for r in rows]

    def metas(self) -> list[StudyMeta]:
        """Every study's :class:`StudyMeta`, in creation order."""
        if self._storage is not None:
            return [self._public_study(n)[0] for n in self.study_names()]
        sql, t = self._sa, self._t

        def q(conn: sa.Connection) -> list[StudyMeta]:
            studies = conn.execute(sql.select(t["studies"].c.study_id,
                                              t["studies"].c.study_name)
                                   .order_by(t["studies"].c.study_id)).all()
            dirs: dict[int, list[tuple[int, str]]] = {}
            d = t["directions"]
            for sid, obj, direction in conn.execute(sql.select(d.c.study_id, d.c.objective,
                                                               d.c.direction)):
                dirs.setdefault(sid, []).append((obj, _name(direction).lower()))
            attrs: dict[int, dict[str, Any]] = {}
            a = t["study_attrs"]
            for sid, key, value in conn.execute(sql.select(a.c.study_id, a.c.key,
                                                           a.c.value_json)):
                attrs.setdefault(sid, {})[key] = json.loads(value)
            return [StudyMeta(sid, name, tuple(v for _, v in sorted(dirs.get(sid, []))),
                              attrs.get(sid, {})) for sid, name in studies]

        return self._run(q)

    def meta(self, name: str) -> StudyMeta:
        """The :class:`StudyMeta` of study ``name``.

        Raises:
            StudyNotFound: no study has that name.
        """
        if self._storage is not None:
            return self._public_study(name)[0]
        for m in self.metas():
            if m.name == name:
                return m
        raise StudyNotFound(f"no study named {name!r} in {self.url!r}")

    def snapshot(self, name: str, metrics: bool = False) -> StudySnapshot:
        """Current trials of study ``name``, reading only what changed since the last call.

        Args:
            name: the study.
            metrics: include every trial's per-step metric history (read on first
                request, then kept up to date).

        Raises:
            StudyNotFound: no study has that name.
        """
        if self._storage is not None:
            return self._public_snapshot(name, metrics)
        meta = self.meta(name)
        cache = self._cache(meta)
        # One refresh per study at a time; others wait for its result.
        with cache.lock, collector_paused():
            changed = self._run(lambda conn: self._refresh(conn, cache))
            added = metrics and not cache.with_metrics
            if added:
                self._run(lambda conn: self._add_metrics(conn, cache))
            if changed or added or cache.trials_sorted is None:
                cache.revision += int(changed)
                cache.trials_sorted = tuple(sorted(cache.trials.values(),
                                                   key=lambda r: r.number))
            return StudySnapshot(meta, cache.trials_sorted, cache.revision, time.time(),
                                 cache.with_metrics)

    def _cache(self, meta: StudyMeta) -> _StudyCache:
        with self._lock:
            cache = self._caches.get(meta.name)
            if cache is None or cache.study_id != meta.study_id:
                cache = self._caches[meta.name] = _StudyCache(meta.study_id)
            return cache

    # --- Optuna's public API (when our own SQL may not match the schema) ---------------

    def _public(self, fn: Callable[[], _T]) -> _T:
        """``fn()``, retried while SQLite reports a lock; other failures are StoreErrors."""
        import optuna

        for attempt in range(5):
            try:
                return fn()
            except (optuna.exceptions.StorageInternalError, self._sa.exc.SQLAlchemyError) as exc:
                locked = any(isinstance(e, self._sa.exc.OperationalError)
                             and "locked" in str(e) for e in (exc, exc.__cause__))
                if locked and attempt < 4:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise StoreError(f"storage {self.url!r} cannot be read through Optuna "
                                 f"{optuna.__version__} ({self.fallback_reason}): "
                                 f"{exc} {exc.__cause__ or ''}".rstrip()) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _public_study(self, name: str) -> tuple[StudyMeta, optuna.Study]:
        """The :class:`StudyMeta` and the loaded ``optuna.Study`` of study ``name``."""
        import optuna

        storage = self._storage
        assert storage is not None  # only called when reading through Optuna's API

        def load() -> tuple[StudyMeta, optuna.Study]:
            # A sampler is required; a cheap one, as this study only reads.
            study = optuna.load_study(study_name=name, storage=storage,
                                      sampler=optuna.samplers.RandomSampler())
            sid = storage.get_study_id_from_name(name)
            return StudyMeta(sid, name, tuple(d.name.lower() for d in study.directions),
                             dict(study.user_attrs)), study

        try:
            return self._public(load)
        except KeyError as exc:
            raise StudyNotFound(f"no study named {name!r} in {self.url!r}") from exc

    def _public_snapshot(self, name: str, metrics: bool) -> StudySnapshot:
        """:meth:`snapshot` through Optuna's public API: the whole study on every call."""
        meta, study = self._public_study(name)
        cache = self._cache(meta)
        with cache.lock:
            want = metrics or cache.with_metrics
            frozen = self._public(lambda: study.get_trials(deepcopy=False))
            recs = {t.number: _public_record(t, want) for t in frozen}
            added = want and not cache.with_metrics  # as on our own SQL: no new revision
            changed = recs.keys() != cache.trials.keys() or any(
                _signature(rec, lean=added) != _signature(cache.trials[n], lean=added)
                for n, rec in recs.items())
            if changed or added or cache.trials_sorted is None:
                cache.trials = recs
                cache.revision += int(changed)
                cache.trials_sorted = tuple(sorted(recs.values(), key=lambda r: r.number))
            cache.with_metrics = want
            return StudySnapshot(meta, cache.trials_sorted, cache.revision, time.time(),
                                 cache.with_metrics)

    # --- our own SQL ----------------------------------------------------------------------

    def _add_metrics(self, conn: sa.Connection, cache: _StudyCache) -> None:
        """Read the metric histories of every cached trial; later refreshes keep them."""
        from dataclasses import replace

        found: dict[int, dict[str, Any]] = {}
        for tid, key, value in self._attr_rows(conn, cache.trials, True, cache.study_id,
                                               metrics=True):
            found.setdefault(tid, {})[key] = value
        # New records, so snapshots already handed out never change under their readers.
        for tid, extra in found.items():
            rec = cache.trials[tid]
            cache.trials[tid] = replace(rec, user_attrs={**rec.user_attrs, **extra})
        cache.with_metrics = True

    def _refresh(self, conn: sa.Connection, cache: _StudyCache) -> bool:
        t = self._t["trials"]
        now = time.time()
        rows = conn.execute(self._sa.select(t.c.trial_id, t.c.number, t.c.state,
                                            t.c.datetime_start, t.c.datetime_complete)
                            .where(t.c.study_id == cache.study_id)).all()
        todo: dict[int, TrialRecord] = {}
        seen: set[int] = set()
        for tid, number, state, start, complete in rows:
            seen.add(tid)
            state = _name(state)
            old = cache.trials.get(tid)
            if old is not None and tid not in cache.unsettled and old.state == state:
                continue
            rec = TrialRecord(tid, number, state, _epoch(start), _epoch(complete))
            todo[tid] = rec
            if state in FINISHED and (rec.complete is None or now - rec.complete > SETTLE_S) \
                    and old is None and not cache.trials:
                continue  # long-finished trial on the first read: settled already
            cache.unsettled.setdefault(tid, now if state in FINISHED else math.inf)
        gone = set(cache.trials) - seen
        for tid in gone:
            del cache.trials[tid]
        if todo:
            self._fill(conn, todo, whole_study=not cache.trials, study_id=cache.study_id,
                       with_metrics=cache.with_metrics)
        changed = bool(gone)
        for tid, rec in todo.items():
            old = cache.trials.get(tid)
            if old is None or _signature(old) != _signature(rec):
                changed = True
            cache.trials[tid] = rec
            since = cache.unsettled.get(tid)
            if since is None:
                continue
            if rec.state not in FINISHED:
                cache.unsettled[tid] = math.inf
            elif since == math.inf:
                cache.unsettled[tid] = now
            elif now - since > SETTLE_S:
                del cache.unsettled[tid]
        return changed

    def _rows_reader(self, conn: sa.Connection, todo: dict[int, TrialRecord],
                     whole_study: bool, study_id: int) -> _Rows:
        """``rows(table, *cols, where=None)``: (trial_id, *cols) of the trials in ``todo``
        (of the whole study when ``whole_study``), as raw driver rows."""
        sql = self._sa
        trials = self._t["trials"]

        def rows(table: sa.Table, *cols: sa.ColumnElement[Any],
                 where: sa.ColumnElement[bool] | None = None) -> Iterator[tuple[Any, ...]]:
            base = sql.select(table.c.trial_id, *cols)
            if where is not None:
                base = base.where(where)
            # Raw driver rows, whole results at once: SQLAlchemy's rows, per-row type
            # processing and row-by-row fetching cost 3x the query itself on 100,000 rows.
            # Enum columns then arrive as their names (strings), which ``_name`` accepts.
            def run(stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
                sql = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                cur = conn.connection.cursor()  # the driver's own cursor
                try:
                    cur.execute(str(sql))
                    return list(cur.fetchall())
                finally:
                    cur.close()

            if whole_study:
                sub = sql.select(trials.c.trial_id).where(trials.c.study_id == int(study_id))
                yield from run(base.where(table.c.trial_id.in_(sub)))
                return
            ids = sorted(int(i) for i in todo)  # literal ids: integers only
            for i in range(0, len(ids), _CHUNK):
                yield from run(base.where(table.c.trial_id.in_(ids[i:i + _CHUNK])))

        return rows

    def _attr_rows(self, conn: sa.Connection, todo: dict[int, TrialRecord], whole_study: bool,
                   study_id: int, metrics: bool | None) -> list[tuple[int, str, Any]]:
        """(trial_id, key, decoded value) of the user attrs of the trials in ``todo``:
        only the metric histories (``metrics=True``), all but them (False), or all (None)."""
        a = self._t["attrs"]
        where = None if metrics is None else (
            a.c.key.like(_METRICS_LIKE) if metrics else a.c.key.not_like(_METRICS_LIKE))
        rows = self._rows_reader(conn, todo, whole_study, study_id)
        got = [(tid, key, value) for tid, key, value in rows(a, a.c.key, a.c.value_json,
                                                             where=where) if tid in todo]
        try:  # one json.loads over all values: a tenth of the per-call overhead
            decoded = json.loads("[" + ",".join(value for _, _, value in got) + "]")
        except ValueError:
            decoded = [json.loads(value) for _, _, value in got]
        if len(decoded) != len(got):  # a value that was not one JSON document
            decoded = [json.loads(value) for _, _, value in got]
        return [(tid, key, value) for (tid, key, _), value in zip(got, decoded, strict=True)]

    def _fill(self, conn: sa.Connection, todo: dict[int, TrialRecord], whole_study: bool,
              study_id: int, with_metrics: bool) -> None:
        """Read params, values, intermediate values and user attrs of the trials in ``todo``
        (metric histories only ``with_metrics``)."""
        from optuna.distributions import json_to_distribution

        t = self._t
        rows = self._rows_reader(conn, todo, whole_study, study_id)

        p = t["params"]
        for tid, pname, pvalue, djson in rows(p, p.c.param_name, p.c.param_value,
                                              p.c.distribution_json):
            rec = todo.get(tid)
            if rec is None:
                continue
            dist = self._dists.get(djson)
            if dist is None:
                dist = self._dists[djson] = json_to_distribution(djson)
            rec.distributions[pname] = dist
            rec.params[pname] = dist.to_external_repr(pvalue)
        v = t["values"]
        vals: dict[int, dict[int, float]] = {}
        for tid, obj, value, vtype in rows(v, v.c.objective, v.c.value, v.c.value_type):
            special = _SPECIAL.get(_name(vtype))
            vals.setdefault(tid, {})[obj] = value if special is None else special
        for tid, by_obj in vals.items():
            if tid in todo:
                todo[tid].values = tuple(by_obj[k] for k in sorted(by_obj))
        iv = t["inter"]
        for tid, step, value, vtype in rows(iv, iv.c.step, iv.c.intermediate_value,
                                            iv.c.intermediate_value_type):
            if tid in todo:
                special = _SPECIAL.get(_name(vtype))
                todo[tid].intermediate[step] = value if special is None else special
        for tid, key, value in self._attr_rows(conn, todo, whole_study, study_id,
                                               metrics=None if with_metrics else False):
            todo[tid].user_attrs[key] = value


def _signature(rec: TrialRecord, lean: bool = False) -> tuple[Any, ...]:
    """What tells a changed trial from an unchanged one (``lean``: not counting metric
    histories among the user attrs)."""
    n_attrs = sum(not k.startswith(attrs.METRICS_PREFIX) for k in rec.user_attrs) if lean \
        else len(rec.user_attrs)
    return (rec.state, rec.values, len(rec.intermediate), n_attrs, rec.complete,
            len(rec.params))


def _public_record(trial: optuna.trial.FrozenTrial, with_metrics: bool) -> TrialRecord:
    """The record of an ``optuna.trial.FrozenTrial`` (its number as ``trial_id``)."""
    return TrialRecord(
        trial.number, trial.number, trial.state.name, _epoch(trial.datetime_start),
        _epoch(trial.datetime_complete),
        tuple(trial.values) if trial.values is not None else None,
        dict(trial.params), dict(trial.distributions), dict(trial.intermediate_values),
        {k: v for k, v in trial.user_attrs.items()
         if with_metrics or not k.startswith(attrs.METRICS_PREFIX)})


class _StudyCache:
    def __init__(self, study_id: int) -> None:
        self.study_id = study_id
        self.trials: dict[int, TrialRecord] = {}
        self.unsettled: dict[int, float] = {}  # trial id -> when first seen finished (inf: not)
        self.revision = 0
        self.trials_sorted: tuple[TrialRecord, ...] | None = None
        self.with_metrics = False  # the trials carry their metric histories
        self.lock = threading.Lock()

"""A submission's body, checked into a search to queue (nothing is imported or unpickled).

A body names its space either by text (``space``: the YAML of a space file, parsed
with the safe loader by :func:`hpo.spaces.parse_space`) or by the file name of a
shipped space (``space_name``, looked up only inside the server's spaces folder), plus
overrides: ``study``, ``trials``, ``concurrency``, ``time_budget``, ``seed``,
``test_score``, ``stale_after`` (as ``hpo run``'s flags). A space naming code to import
(a ``module:function`` trainable, a ``package.module:attr`` sampler or scheduler) is
refused unless the server was started with custom code allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Study names the service accepts: no separators, no leading dot, so a name can never
#: be read as a path outside any folder it may later name.
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
MAX_SPACE_TEXT = 256 * 1024

FIELDS = {
    "space": str, "space_name": str, "study": str, "trials": int, "concurrency": int,
    "time_budget": float, "seed": int, "test_score": bool, "stale_after": float,
}


class SubmissionError(ValueError):
    """A bad request body; ``status`` is the HTTP code (400 malformed, 422 invalid)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Submission:
    """A checked submission: the study it runs and the request the queue keeps."""

    study: str
    request: dict[str, Any]


def check_study_name(name: object, field: str = "study") -> str:
    """``name`` if it is a study name the service accepts, else :class:`SubmissionError`."""
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name) or ".." in name:
        raise SubmissionError(
            f"{field}: a study name is 1-128 letters, digits, '.', '_' or '-' and starts "
            f"with a letter or digit, got {name!r}")
    return name


def shipped_spaces(spaces_dir: Path | None) -> list[str]:
    """Names of the shipped spaces (``*.yaml`` file stems) in ``spaces_dir``."""
    if spaces_dir is None or not spaces_dir.is_dir():
        return []
    return sorted(p.stem for p in spaces_dir.glob("*.yaml") if SPACE_NAME.fullmatch(p.stem))


def _shipped_text(name: object, spaces_dir: Path | None) -> str:
    known = shipped_spaces(spaces_dir)
    if not isinstance(name, str) or not SPACE_NAME.fullmatch(name) or name not in known:
        raise SubmissionError(f"space_name: no shipped space {name!r}; choose one of {known}",
                              404 if isinstance(name, str) and SPACE_NAME.fullmatch(name)
                              else 400)
    if spaces_dir is None:  # unreachable: known is empty then
        raise SubmissionError("space_name: this server has no shipped spaces")
    path = (spaces_dir / f"{name}.yaml").resolve()
    if path.parent != spaces_dir.resolve():  # a symlink pointing elsewhere
        raise SubmissionError(f"space_name: {name!r} resolves outside the spaces folder")
    return path.read_text()


def _code_references(spec: Any) -> list[str]:
    """Fields of ``spec`` that would make the server import code named by the request."""
    found = []
    if ":" in spec.trainable:
        found.append(f"trainable {spec.trainable!r}")
    for field in ("sampler", "scheduler"):
        name = getattr(spec, field).name
        if ":" in name:
            found.append(f"{field} {name!r}")
    return found


def check_submission(body: object, spaces_dir: Path | None, allow_custom: bool) -> Submission:
    """Check a submission body (already decoded from JSON).

    Raises:
        SubmissionError: the field and the bad value; 400 for a malformed body, 404 for
            an unknown shipped space, 422 for a space that does not validate or names
            code the server may not import.
    """
    from hpo.spaces import SpaceError, parse_space

    if not isinstance(body, dict):
        raise SubmissionError(f"body: expected a JSON object, got {type(body).__name__}")
    for key, value in body.items():
        kind = FIELDS.get(key)
        if kind is None:
            raise SubmissionError(f"{key}: unknown field; the fields are {sorted(FIELDS)}")
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if value is not None and not ok:
            raise SubmissionError(f"{key}: expected {kind.__name__}, got {value!r}")
    if ("space" in body) == ("space_name" in body):
        raise SubmissionError("space, space_name: give exactly one (a space file's text, "
                              "or the name of a shipped space)")
    for key in ("trials", "concurrency"):
        if body.get(key) is not None and body[key] < 1:
            raise SubmissionError(f"{key}: must be at least 1, got {body[key]!r}", 422)
    if body.get("stale_after") is not None and not body["stale_after"] > 0:
        raise SubmissionError(f"stale_after: must be > 0 seconds, got {body['stale_after']!r}",
                              422)
    if body.get("time_budget") is not None and not body["time_budget"] > 0:
        raise SubmissionError(f"time_budget: must be > 0 seconds, got {body['time_budget']!r}",
                              422)
    if "space" in body:
        text = body["space"]
        if len(text) > MAX_SPACE_TEXT:
            raise SubmissionError(f"space: at most {MAX_SPACE_TEXT} characters, got "
                                  f"{len(text)}", 413)
        source = "<submitted space>"
    else:
        text = _shipped_text(body["space_name"], spaces_dir)
        source = f"{body['space_name']}.yaml"
    try:
        spec = parse_space(text, source)
    except SpaceError as exc:
        raise SubmissionError(str(exc), 422) from None
    code = _code_references(spec)
    if code and not allow_custom:
        raise SubmissionError(
            f"space: names code to import ({', '.join(code)}); this server runs only "
            "built-in trainables, samplers and schedulers (start it with --allow-custom-code "
            "to allow them)", 422)
    study = body.get("study") or spec.name or body.get("space_name")
    if not study:
        raise SubmissionError("study: the space has no name; give a study name")
    check_study_name(study)
    request = {k: v for k, v in body.items() if k not in ("space", "space_name", "study")
               and v is not None}
    request.update(space_text=text, source=source, space_name=body.get("space_name"),
                   fingerprint=spec.fingerprint(),
                   target_trials=body.get("trials") or spec.budget.trials)
    return Submission(study=study, request=request)

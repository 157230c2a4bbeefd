"""The results file and the summary of benchmarks/finetune_vs_peers.py, on synthetic lines."""

from __future__ import annotations

import json
import statistics
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks._peers.results import (
    append_line,
    interval,
    read_lines,
    summary_rows,
    summary_table,
    variant_of,
)


def _record(task: str, method: str, accs: list[float], *, budget: float = 600.0,
            search_s: float = 600.0, seed: int = 0, trials: int = 10) -> dict[str, Any]:
    return {"date": "2027-01-02T06:00:00+00:00", "task": task, "method": method,
            "budget_s": budget, "search_seed": seed, "search_seconds": search_s,
            "trials": trials, "best_validation": 0.8, "retrain_seeds": list(range(len(accs))),
            "test_accuracy": accs, "versions": {"torch": "x"}}


def test_interval_matches_the_t_formula() -> None:
    values = [0.70, 0.74, 0.78]
    mean, half = interval(values)
    assert mean == pytest.approx(0.74)
    assert half == pytest.approx(4.303 * statistics.stdev(values) / 3 ** 0.5)
    assert interval([0.5])[0] == 0.5


def test_append_keeps_every_line_under_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    threads = [threading.Thread(target=append_line, args=(path, {"n": n})) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["n"] for r in read_lines([path])) == list(range(20))
    assert not list(tmp_path.glob("*.tmp"))  # no temp file left behind


def test_a_bad_line_is_named_by_file_and_number(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n{torn\n")
    with pytest.raises(ValueError, match=r"out\.jsonl:2"):
        read_lines([path])


def test_paired_difference_and_budget_check() -> None:
    recipe = _record("rt", "recipe", [0.70, 0.72, 0.74], budget=0.0, search_s=0.0)
    hpo = _record("rt", "hpo", [0.75, 0.74, 0.80], search_s=610.0)
    ray = _record("rt", "ray", [0.71, 0.73, 0.75], search_s=700.0)
    rows = {r["method"]: r for r in summary_rows([hpo, ray, recipe])}
    assert list(rows) == ["hpo", "ray", "recipe"] or set(rows) == {"hpo", "ray", "recipe"}
    diffs = [0.05, 0.02, 0.06]
    assert rows["hpo"]["diff"] == pytest.approx(interval(diffs))
    assert rows["hpo"]["test"] == pytest.approx(interval([0.75, 0.74, 0.80]))
    assert rows["hpo"]["within_budget"] == "1/1"  # 610 s is within 5 % of 600 s
    assert rows["ray"]["within_budget"] == "0/1"  # 700 s is not
    assert rows["ray"]["diff"][0] == pytest.approx(0.01)


def test_several_search_seeds_make_the_search_the_unit() -> None:
    recipe = _record("rt", "recipe", [0.70, 0.70], budget=0.0, search_s=0.0)
    runs = [_record("rt", "hpo", accs, seed=s)
            for s, accs in enumerate([[0.72, 0.74], [0.76, 0.78], [0.80, 0.80]])]
    row = next(r for r in summary_rows([recipe, *runs]) if r["method"] == "hpo")
    assert row["runs"] == 3
    assert row["test"] == pytest.approx(interval([0.73, 0.77, 0.80]))
    assert row["diff"] == pytest.approx(interval([0.03, 0.07, 0.10]))


def test_table_has_a_row_per_task_budget_and_method() -> None:
    records = [_record("rt", "recipe", [0.7], budget=0.0, search_s=0.0),
               _record("rt", "hpo", [0.8]), _record("rt", "hpo", [0.81], budget=1800.0),
               _record("fmnist", "trainer", [0.6])]
    table = summary_table(records)
    body = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(body) == 1 + 4  # header + rows
    assert any("| rt | 1800 s | hpo |" in line and "0.8100" in line for line in body)
    assert "versions: torch x" in table


def test_a_variant_gets_a_row_of_its_own() -> None:
    recipe = _record("rt", "recipe", [0.70], budget=0.0, search_s=0.0)
    shipped = _record("rt", "hpo", [0.78])
    tried = {**_record("rt", "hpo", [0.76]), "variant": "3 epochs"}
    rows = [r for r in summary_rows([recipe, shipped, tried]) if r["method"] == "hpo"]
    assert [(r["variant"], r["runs"]) for r in rows] == [("", 1), ("3 epochs", 1)]
    assert rows[0]["test"][0] == pytest.approx(0.78)
    assert rows[1]["test"][0] == pytest.approx(0.76)
    table = summary_table([recipe, shipped, tried])
    assert "| rt | 600 s | hpo (3 epochs) | 1 |" in table


def test_hpo_lines_from_before_a_shipped_space_change_count_as_the_earlier_space() -> None:
    from benchmarks._peers.results import SHIPPED_SPACE_CHANGES

    tasks, changed, earlier, promoted = SHIPPED_SPACE_CHANGES[-1]
    task = sorted(tasks)[0]
    # A minute before the latest change: after every earlier one, so only it applies.
    before = (datetime.fromisoformat(changed) - timedelta(minutes=1)).isoformat()
    old = {**_record(task, "hpo", [0.70]), "date": before}
    new = {**_record(task, "hpo", [0.80]), "date": "2027-01-01T00:00:00+00:00"}
    tried = {**old, "variant": promoted, "test_accuracy": [0.90]}
    other = {**old, "variant": "something else", "test_accuracy": [0.60]}
    peer = {**_record(task, "ray", [0.75]), "date": before}
    assert old["date"] < changed < new["date"]
    rows = {(r["method"], r["variant"]): r
            for r in summary_rows([old, new, tried, other, peer])}
    assert set(rows) == {("hpo", ""), ("hpo", earlier), ("hpo", "something else"),
                         ("ray", "")}
    assert rows[("hpo", "")]["runs"] == 2  # the promoted variant's run and the new one
    assert rows[("hpo", "")]["test"][0] == pytest.approx(0.85)
    assert rows[("hpo", "something else")]["test"][0] == pytest.approx(0.60)
    assert rows[("hpo", earlier)]["test"][0] == pytest.approx(0.70)
    assert rows[("ray", "")]["runs"] == 1  # the peers' lines are not relabelled


def test_shipped_space_changes_chain_oldest_first() -> None:
    changes = ((frozenset({"rt"}), "2026-01-10T00:00:00+00:00", "space A", "tried B"),
               (frozenset({"rt"}), "2026-01-20T00:00:00+00:00", "space B", "tried C"))

    def label(date: str, variant: str = "", task: str = "rt") -> str:
        rec = {**_record(task, "hpo", [0.8]), "date": f"2026-01-{date}T00:00:00+00:00",
               "variant": variant}
        return variant_of(rec, changes)

    assert label("05") == "space A"  # ran what was shipped before the first change
    assert label("15") == "space B"  # the shipped space between the changes
    assert label("25") == ""
    assert label("05", "tried B") == "space B"  # promoted, then replaced in turn
    assert label("25", "tried B") == "space B"  # run again after its replacement
    assert label("15", "tried C") == ""
    assert label("05", "tried D") == "tried D"
    assert label("05", task="fmnist") == ""  # its space never changed

"""The selection split: reproducible, disjoint from every split the search used."""

from __future__ import annotations

import pytest

from hpo.data import load_text_data
from hpo.shipping.selection import default_selection_size, selection_data

BASE = {"source": "rotten_tomatoes", "train_size": 60, "validation_size": 40,
        "test_size": 80, "seed": 0}


def _texts(ds: object) -> set[str]:
    return set(ds["text"])  # type: ignore[index]


def test_carved_from_the_unused_pool_it_leaves_the_searched_splits_as_they_were() -> None:
    plain, plain_id = load_text_data(BASE)
    carved, carved_id = load_text_data({**BASE, "selection_size": 50})
    for name in ("train", "validation", "test"):
        assert carved_id["fingerprints"][name] == plain_id["fingerprints"][name]
    sel = _texts(carved["selection"])
    assert len(carved["selection"]) == 50
    for name in ("train", "validation", "test"):
        assert not sel & _texts(plain[name])
    again, _ = load_text_data({**BASE, "selection_size": 50})
    assert list(again["selection"]["text"]) == list(carved["selection"]["text"])


def test_without_an_unused_pool_it_comes_out_of_the_training_split(tmp_path) -> None:
    rows = "\n".join(f"review number {i} {'good' if i % 2 else 'bad'},{i % 2}"
                     for i in range(200))
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + rows + "\n")
    section = {"source": str(path), "validation_size": 20, "test_size": 20}
    plain, _ = load_text_data(section)
    carved, ident = load_text_data({**section, "selection_size": 0.25})
    assert "selection from the training split" in ident["made"]
    assert len(carved["selection"]) + len(carved["train"]) == len(plain["train"])
    assert not _texts(carved["selection"]) & _texts(carved["train"])
    assert _texts(carved["test"]) == _texts(plain["test"])
    given, ident = load_text_data({**section, "selection_source": str(path)})
    assert "selection given" in ident["made"] and len(given["selection"]) == 200
    with pytest.raises(ValueError, match=r"data.selection_size: must be a count or a fraction"):
        load_text_data({**section, "selection_size": -3})


def test_the_default_size_matches_the_validation_split_and_plain_functions_get_none() -> None:
    assert default_selection_size({"sizes": {"train": 300, "validation": 200}}) == 150
    assert default_selection_size({"sizes": {"train": 1000, "validation": 200}}) == 200
    assert default_selection_size({}) is None
    data, sel = selection_data("text_classification", BASE, size=30, source=None)
    assert data == {**BASE, "selection_size": 30} and sel["kind"] == "carved"
    assert selection_data("tests.x:f", {}, size=None, source=None)[1]["kind"] == "none"

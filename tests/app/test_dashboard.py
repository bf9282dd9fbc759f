"""The bureau dashboard's building blocks: townships from office names, small-cell suppression that totals
cannot undo, and the settings file's errors naming file, line and key."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from hub.services.dashboard import DashboardSettingsError, load_settings, suppress_table, to_csv, with_totals
from streams.views.facts import township_of


@pytest.mark.parametrize("office,township", [
    ("李店镇王楼村人民调解委员会", "李店"), ("李店镇人民调解委员会", "李店"), ("城关派出所", "城关"),
    ("韩集人民法庭", "韩集"), ("孙庄乡司法所", "孙庄"), ("城关镇建设路社区人民调解委员会", "城关"),
    ("清源县城关镇人民调解委员会", "城关"), ("清源县疑难纠纷调处专班", ""), ("清源县医疗纠纷人民调解委员会", ""),
    ("清源县人民法院", ""), ("驿城区人民法院", ""), ("新华社区人民调解委员会", ""), ("", ""),
])
def test_the_township_of_an_office_as_offices_name_themselves(office: str, township: str) -> None:
    assert township_of(office) == township


def recoverable(counts: dict[tuple[str, str], int], hidden: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """The suppressed cells an outsider recovers by subtraction, line by line and again with what was
    recovered, from the shown cells and totals (a row or a column with one unknown gives it away)."""
    table = with_totals(counts)
    unknown = set(hidden)
    found = []
    progress = True
    while progress:
        progress = False
        for axis in (0, 1):
            for line in {k[axis] for k in table}:
                missing = [k for k in table if k[axis] == line and k in unknown]
                if len(missing) == 1:
                    unknown.discard(missing[0])
                    found.append(missing[0])
                    progress = True
    return found


def test_small_cells_are_suppressed_and_the_totals_do_not_give_them_back() -> None:
    counts = {("neighbour", "城关"): 40, ("neighbour", "李店"): 3, ("neighbour", "韩集"): 12,
              ("medical", "城关"): 9, ("medical", "李店"): 7, ("medical", "韩集"): 0,
              ("labour_wages", "城关"): 25, ("labour_wages", "李店"): 6, ("labour_wages", "韩集"): 2}
    hidden = suppress_table(counts, 5)
    assert {("neighbour", "李店"), ("labour_wages", "韩集")} <= hidden   # primary
    assert all(with_totals(counts)[k] > 0 for k in hidden) and ("medical", "韩集") not in hidden
    assert not recoverable(counts, hidden)


def test_suppression_holds_on_random_tables() -> None:
    import random

    rng = random.Random(20)
    for _ in range(200):
        rows, cols = rng.randint(1, 6), rng.randint(1, 6)
        counts = {(f"t{r}", f"w{c}"): rng.choice([0, 0, 1, 2, 3, 4, 5, 8, 20]) for r, c in
                  itertools.product(range(rows), range(cols))}
        hidden = suppress_table(counts, 5)
        table = with_totals(counts)
        assert all(0 < table[k] for k in hidden)
        assert all(k in hidden for k, v in table.items() if 0 < v < 5)
        assert not recoverable(counts, hidden)


def test_csv_writes_a_suppressed_count_as_the_page_shows_it() -> None:
    rows = [{"dispute_type": "neighbour", "township": "李店", "threads": None, "suppressed": ["threads"]},
            {"dispute_type": "neighbour", "township": "*", "threads": 55, "suppressed": []}]
    assert to_csv("disputes", rows, 5) == "dispute_type,township,threads\r\nneighbour,李店,<5\r\nneighbour,*,55\r\n"


def test_the_packaged_settings_load() -> None:
    settings = load_settings()
    assert settings.min_cell >= 5 and settings.handling_hours("red") <= settings.handling_hours("blue")


@pytest.mark.parametrize("text,where", [
    ("min_cell = 0\nfirst_handling_target_hours = 72\n[alert_handling_hours]\nred = 1\nyellow = 2\nblue = 3\n",
     ":1: min_cell: expected an integer >= 1"),
    ("min_cell = 5\nfirst_handling_target_hours = 72\n[alert_handling_hours]\nred = 1\nyellow = 2\nblack = 3\n",
     ":6: alert_handling_hours.black: unknown key 'black'"),
    ("min_cell = 5\n[alert_handling_hours]\nred = 1\nyellow = 2\nblue = 3\n", ": missing key 'first_handling_target_hours'"),
])
def test_a_bad_settings_file_names_the_line_and_the_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "dashboard.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DashboardSettingsError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and where in str(caught.value)

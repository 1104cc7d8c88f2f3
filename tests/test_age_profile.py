"""`info`'s age profile: counted in the mergeable tally, read out in bands of last use."""

from __future__ import annotations

import pickle
from pathlib import Path

import cachefactory
import packages
import pytest
from cli_helpers import invoke

from pipcachex.cache import CacheEntry, CacheFile, Kind, Layout
from pipcachex.cache.tally import CacheTally
from pipcachex.operations.listing import AGE_BANDS, age_profile

DAY = 86400.0
NOW = 1_800_000_000.0


def _entry(days_ago: float, size: int = 100, name: str = "e") -> CacheEntry:
    when = NOW - days_ago * DAY
    return CacheEntry(
        path=f"/c/http-v2/{name}",
        kind=Kind.DISTRIBUTION,
        layout=Layout.HTTP_V2,
        files=(CacheFile(f"/c/http-v2/{name}", size, when, when),),
        package="p",
        version="1",
    )


@pytest.mark.parametrize(
    ("days_ago", "band"),
    [
        (0.0, "within 1 day"),
        (0.9, "within 1 day"),
        (1.5, "1 day to 1 week"),
        (6.9, "1 day to 1 week"),
        (7.5, "1 week to 1 month"),
        (29.0, "1 week to 1 month"),
        (31.0, "1 to 3 months"),
        (89.0, "1 to 3 months"),
        (91.0, "3 months to 1 year"),
        (364.0, "3 months to 1 year"),
        (366.0, "over 1 year"),
        (NOW / DAY, "over 1 year"),  # last used "1970": an entry with no times
    ],
)
def test_each_age_falls_in_its_band(days_ago: float, band: str) -> None:
    tally = CacheTally()
    tally.add(_entry(days_ago, 123))
    bands = {b.label: (b.entries, b.size) for b in age_profile(tally.last_used, NOW)}
    assert list(bands) == [label for label, _ in AGE_BANDS]
    assert bands[band] == (1, 123)
    assert sum(entries for entries, _ in bands.values()) == 1


def test_tallies_of_several_processes_merge_into_the_same_profile() -> None:
    entries = [
        _entry(days, size, f"e{i}")
        for i, (days, size) in enumerate(
            [(0.2, 10), (3, 20), (3.2, 30), (40, 40), (200, 50), (900, 60), (0.5, 70)]
        )
    ]
    whole = CacheTally()
    for entry in entries:
        whole.add(entry)
    parts = [CacheTally(), CacheTally(), CacheTally()]
    for index, entry in enumerate(entries):
        parts[index % 3].add(entry)
    merged = CacheTally()
    for part in parts:
        merged.merge(pickle.loads(pickle.dumps(part)))  # as worker processes send them
    assert age_profile(merged.last_used, NOW) == age_profile(whole.last_used, NOW)
    sizes = [b.size for b in age_profile(whole.last_used, NOW)]
    assert sizes == [80, 50, 0, 40, 50, 60]


def _projects(tally: CacheTally) -> dict[str, tuple[object, ...]]:
    return {
        name: (p.entries, p.size, p.versions, p.oldest, p.newest)
        for name, p in tally.projects.items()
    }


def test_a_pickled_tally_comes_back_whole_and_still_counts() -> None:
    tally = CacheTally()
    for index, (package, version, days) in enumerate(
        [("p", "1", 3.0), ("p", "2", 40.0), ("q", None, 0.5), ("r", "1", 900.0)]
    ):
        entry = _entry(days, 10 * (index + 1), f"e{index}")
        tally.add(CacheEntry(entry.path, entry.kind, entry.layout, entry.files, package, version))
    back = pickle.loads(pickle.dumps(tally))
    assert _projects(back) == _projects(tally)
    assert _projects(back)["p"] == (2, 30, {"1", "2"}, NOW - 40 * DAY, NOW - 3 * DAY)
    assert (back.buckets, back.last_used) == (tally.buckets, tally.last_used)
    assert (back.http_files, back.http_size) == (tally.http_files, tally.http_size)
    # Still a tally: a new project or a new entry of an old one is counted in.
    back.add(_entry(1.0, 5, "new"))
    back.projects["z"].count(1, "9", NOW)
    assert back.projects["p"].entries == 3 and back.projects["z"].entries == 1


def test_info_shows_the_profile(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ages = {
        "alpha_pkg-1.0-py3-none-any.whl": 0.3,
        "gamma-1.2.3.tar.gz": 45,
        "delta_zip-0.1.zip": 400,
    }
    for filename, days in ages.items():
        body = packages.build_dist_bytes(packages.by_filename(filename))
        url = f"http://127.0.0.1/files/{filename}"
        entry = cachefactory.write_http_v2_entry(cache, url, body, cachefactory.file_headers(body))
        for path in (entry.meta, entry.body):
            assert path is not None
            cachefactory.set_age(path, days * DAY)
    document = invoke(["info", "--json", "--cache-dir", str(cache)]).json
    bands = {b["last_used"]: b for b in document["age_profile"]}
    assert [b["up_to_days"] for b in document["age_profile"]] == [1, 7, 30, 90, 365, None]
    assert [bands[k]["entries"] for k in bands] == [1, 0, 0, 1, 0, 1]
    assert sum(b["size"] for b in bands.values()) == document["total"]["size"]
    text = invoke(["info", "--cache-dir", str(cache)]).stdout
    assert "1 to 3 months" in text and "Unused for over 3 months: 1 entry" in text
    assert "█" not in text, "no bars when stdout is not a terminal"
    terminal = invoke(
        ["info", "-q", "--cache-dir", str(cache)], env={"TTY_COMPATIBLE": "1", "COLUMNS": "100"}
    )
    assert "█" in terminal.stdout and "%" in terminal.stdout

"""Build a realistic synthetic pip cache of N entries, deterministic for a seed.

Every entry is written by ``tests/cachefactory.py`` (pip's exact on-disk formats) and every
distribution body by ``tests/packages.py`` (valid, byte-reproducible wheels and sdists), so the
scanner has to do its real work on each one: read a zip's central directory, a tar's first
member, a PEP 658 metadata file's header, a (possibly gzip-encoded) PEP 691 / PEP 503 page.

The mix (fractions of N, roughly): 74% ``http-v2/`` pairs, 15% legacy ``http/`` entries, 10%
``wheels/`` directories with ``origin.json``, 0.5% damaged entries of every kind the scanner
knows, plus pip's two ``selfcheck`` files. Among HTTP entries: wheels, tar.gz and zip sdists,
PEP 658 metadata files, JSON and HTML index pages (40% / 30% gzip-encoded), redirects and a
few bodies nobody can attribute. Distribution bodies carry an incompressible-ish payload with a
log-normal size (median ~6 KB, capped at 400 KB), so the cache is ~10 KB an entry on average.

Times: half the entries were last used within 89.5 days (skewed towards the last week), the
other half between 90.5 and 730 days ago, so ``--older-than 90d`` selects exactly half and no
entry sits near the boundary (``find -amin`` rounding cannot differ from pipcachex's). ``mtime``
(written) is at or before ``atime`` (last read). All times are recorded in ``times.tsv`` next to
the cache so a run can put them back after a tool that reads file contents (``tar``, ``cp``)
has moved atimes.

Usage: ``python bench/generate.py DEST --entries 10000 [--seed 0] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from packaging.utils import canonicalize_name  # noqa: E402

from tests import cachefactory as cf  # noqa: E402
from tests import packages  # noqa: E402

#: Bump when the generated content changes, so cached benchmark caches are rebuilt.
GENERATOR_VERSION = 1
DAY = 86400.0
#: The ``--older-than`` threshold (days) that splits the generated cache in half.
SPLIT_DAYS = 90
CACHE_DIR = "cache"
TIMES_FILE = "times.tsv"
MANIFEST_FILE = "manifest.json"

_SYLLABLES = (
    "py", "data", "net", "core", "lib", "tool", "fast", "micro", "async", "json", "yaml",
    "http", "auth", "cloud", "test", "log", "crypt", "geo", "plot", "num", "sci", "web",
    "flask", "dev", "io", "kit", "ml", "torch", "cache", "api", "cli", "db", "sql", "xml",
)  # fmt: skip
_SEPARATORS = ("-", "-", "_", "", ".")

#: Cumulative weights of what an HTTP entry holds.
_HTTP_MIX = (
    ("wheel", 0.38),
    ("sdist", 0.10),
    ("zip-sdist", 0.01),
    ("metadata", 0.27),
    ("json-page", 0.14),
    ("html-page", 0.07),
    ("redirect", 0.015),
    ("other", 0.015),
)
#: How many projects entries are spread over (depends on N; set in each worker).
_POOL_SIZE = 50
_DAMAGE = (
    "truncated-body",
    "truncated-legacy",
    "garbled-metadata",
    "orphan-body",
    "orphan-metadata",
    "stale-tmp",
    "zero-byte-body",
    "truncated-gzip-page",
    "empty-wheel-dir",
)


@dataclass(frozen=True)
class Written:
    """One generated entry: its category and every file it consists of, with their times."""

    category: str
    files: tuple[Path, ...]
    atime: float
    mtime: float


def project_name(index: int) -> str:
    """The published (not normalised) name of synthetic project number ``index``."""
    rng = random.Random(f"project:{index}")
    parts = [rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))]
    name = rng.choice(_SEPARATORS).join(parts) + f"-{index}"
    return name.title() if rng.random() < 0.1 else name


def _project_count(entries: int) -> int:
    return max(50, entries // 25)


def _version(rng: random.Random) -> str:
    return f"{rng.randint(0, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"


def _payload(rng: random.Random, median: float = 6000.0, cap: int = 400_000) -> str:
    size = min(cap, int(rng.lognormvariate(math.log(median), 1.2)))
    return base64.b64encode(rng.randbytes(size * 3 // 4)).decode()


def _dist(rng: random.Random, project: str, version: str, kind: str) -> packages.Dist:
    module = str(canonicalize_name(project)).replace("-", "_")
    source = f'"""Synthetic module {project} {version}."""\n\nDATA = "{_payload(rng)}"\n'
    return packages.Dist(project, version, kind, module, source)


def _times(rng: random.Random, now: float) -> tuple[float, float]:
    """(atime, mtime): last used, and written at or before that."""
    if rng.random() < 0.5:
        age = 0.05 + (SPLIT_DAYS - 0.5 - 0.05) * rng.random() ** 2
    else:
        age = SPLIT_DAYS + 0.5 + (730 - SPLIT_DAYS - 0.5) * rng.random() ** 1.5
    atime = now - age * DAY
    mtime = atime if rng.random() < 0.6 else atime - rng.uniform(0, 300) * DAY
    return atime, mtime


def _file_url(seed: int, index: int, filename: str) -> str:
    digest = hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()
    return f"https://files.pythonhosted.org/packages/{digest[:2]}/{digest[2:4]}/{digest[4:60]}/{filename}"


def _page_files(rng: random.Random, project: str, popularity: int) -> list[str]:
    stem = project.replace("-", "_")
    count = max(1, min(400, int(rng.paretovariate(1.2) * 3 + 200 / (1 + popularity))))
    names = []
    for _ in range(count):
        version = _version(rng)
        names.append(f"{stem}-{version}-py3-none-any.whl")
        if rng.random() < 0.5:
            names.append(f"{stem}-{version}.tar.gz")
    return names


def _html_page(project: str, filenames: list[str], titled: bool) -> bytes:
    head = f"<title>Links for {project}</title>" if titled else "<title>Index</title>"
    heading = f"<h1>Links for {project}</h1>" if titled else ""
    links = "".join(f'<a href="../../files/{f}#sha256=00">{f}</a><br/>\n' for f in filenames)
    page = f"<!DOCTYPE html>\n<html><head>{head}</head><body>{heading}\n{links}</body></html>\n"
    return page.encode()


def _http_entry(
    root: Path, seed: int, index: int, rng: random.Random, now: float, legacy: bool, what: str
) -> tuple[cf.HttpEntry, str]:
    writer = cf.write_legacy_http_entry if legacy else cf.write_http_v2_entry
    popularity = int(_POOL_SIZE * rng.random() ** 1.5)
    project = project_name(popularity)
    canonical = str(canonicalize_name(project))
    version = _version(rng)
    date = now - rng.uniform(0, 730) * DAY
    pypi = rng.random() < 0.5
    if what in ("wheel", "sdist", "zip-sdist"):
        dist = _dist(rng, project, version, what)
        body = packages.build_dist_bytes(dist)
        headers = cf.file_headers(
            body,
            date=date,
            project=project if pypi else None,
            version=version if pypi else None,
        )
        return writer(root, _file_url(seed, index, dist.filename), body, headers), what
    if what == "metadata":
        dist = _dist(rng, project, version, "wheel")
        body = dist.metadata().encode()
        headers = cf.file_headers(body, date=date)
        url = _file_url(seed, index, dist.filename + ".metadata")
        return writer(root, url, body, headers), what
    if what in ("json-page", "html-page"):
        filenames = _page_files(rng, project, popularity)
        gzipped = rng.random() < (0.4 if what == "json-page" else 0.3)
        if what == "json-page":
            body = cf.json_page(canonical, filenames)
            content_type = cf.JSON_PAGE_TYPE
        else:
            body = _html_page(project, filenames, titled=rng.random() < 0.8)
            content_type = "text/html"
        if gzipped:
            body = cf.gzip_bytes(body)
        headers = cf.page_headers(body, content_type=content_type, gzipped=gzipped, date=date)
        url = f"https://pypi.org/simple/{canonical}/?bench={index}"
        return writer(root, url, body, headers), what + ("-gzip" if gzipped else "")
    if what == "redirect":
        headers = {
            "Server": "pipcachex-bench/1.0",
            "Date": cf.http_date(date),
            "Location": f"https://pypi.org/simple/{canonical}/",
            "Cache-Control": cf.PAGE_CACHE_CONTROL,
            "Content-Length": "0",
        }
        url = f"https://pypi.org/simple/{project}/?bench={index}"
        return writer(root, url, b"", headers, 301, vary={}), what
    body = rng.randbytes(int(rng.lognormvariate(math.log(4000), 1.0)) + 16)
    headers = cf.file_headers(body, date=date)
    return writer(root, _file_url(seed, index, f"blob-{index}.bin"), body, headers), "other"


def _pick(rng: random.Random, mix: tuple[tuple[str, float], ...]) -> str:
    point = rng.random() * sum(w for _, w in mix)
    for name, weight in mix:
        point -= weight
        if point < 0:
            return name
    return mix[-1][0]


def _wheel_dir(root: Path, seed: int, index: int, rng: random.Random) -> list[Path]:
    project = project_name(int(_POOL_SIZE * rng.random() ** 1.5))
    version = _version(rng)
    dist = _dist(rng, project, version, "wheel")
    sdist = f"{dist.stem}.tar.gz"
    sha = hashlib.sha256(f"{seed}:{index}:sdist".encode()).hexdigest()
    link = _file_url(seed, index, sdist) + f"#sha256={sha}"
    origin = cf.origin_json(link.partition("#")[0], sha) if rng.random() < 0.85 else None
    wheel = cf.write_wheel_entry(
        root, link, packages.build_wheel_bytes(dist), dist.filename, origin
    )
    return sorted(wheel.parent.iterdir())


def _damaged(root: Path, seed: int, index: int, rng: random.Random, now: float) -> list[Path]:
    kind = _DAMAGE[index % len(_DAMAGE)]
    if kind == "empty-wheel-dir":
        files = _wheel_dir(root, seed, index, rng)
        for path in files:
            if path.name.endswith(".whl"):
                path.unlink()
        return [p for p in files if p.exists()]
    if kind == "truncated-gzip-page":
        # the case that makes pip crash on every run until the entry is deleted
        body = cf.gzip_bytes(
            cf.json_page(f"bench-damaged-{index}", ["x-1.0-py3-none-any.whl"] * 50)
        )
        headers = cf.page_headers(body, gzipped=True, date=now - DAY)
        url = f"https://pypi.org/simple/bench-damaged-{index}/"
        cf.truncate_body(page := cf.write_http_v2_entry(root, url, body, headers))
        return [p for p in (page.meta, page.body) if p is not None]
    entry, _ = _http_entry(root, seed, index, rng, now, kind == "truncated-legacy", "wheel")
    if kind in ("truncated-body", "truncated-legacy"):
        cf.truncate_body(entry)
    elif kind == "garbled-metadata":
        cf.garble_metadata(entry.meta)
    elif kind == "orphan-body":
        return [cf.orphan_body(entry)]
    elif kind == "orphan-metadata":
        return [cf.orphan_metadata(entry)]
    elif kind == "stale-tmp":
        assert entry.body is not None
        return [entry.meta, entry.body, cf.write_stale_tmp(entry.body, suffix=f"{index:08x}")]
    elif kind == "zero-byte-body":
        assert entry.body is not None
        cf.zero_byte(entry.body)
    return [p for p in (entry.meta, entry.body) if p is not None]


def _write_one(root: Path, seed: int, index: int, now: float) -> Written:
    rng = random.Random(f"{seed}:{index}")
    atime, mtime = _times(rng, now)
    if index == 0:
        path = cf.write_selfcheck(
            root,
            key="/usr/lib/python3",
            last_check=datetime.fromtimestamp(now - DAY, timezone.utc),
        )
        return Written("selfcheck", (path,), now - DAY, now - DAY)
    if index == 1:
        path = cf.write_selfcheck(
            root,
            key="/usr",
            legacy_json=True,
            last_check=datetime.fromtimestamp(now - 800 * DAY, timezone.utc),
        )
        return Written("selfcheck", (path,), now - DAY, now - 800 * DAY)
    roll = rng.random()
    if roll < 0.005:
        category = "damaged:" + _DAMAGE[index % len(_DAMAGE)]
        files = _damaged(root, seed, index, rng, now)
    elif roll < 0.105:
        category = "wheels"
        files = _wheel_dir(root, seed, index, rng)
    else:
        legacy = roll < 0.255
        entry, what = _http_entry(root, seed, index, rng, now, legacy, _pick(rng, _HTTP_MIX))
        category = ("http:" if legacy else "http-v2:") + what
        files = [p for p in (entry.meta, entry.body) if p is not None]
    return Written(category, tuple(files), atime, mtime)


def _write_range(args: tuple[str, int, int, int, float, int]) -> tuple[list[str], Counter[str]]:
    root_text, seed, start, stop, now, pool = args
    global _POOL_SIZE
    _POOL_SIZE = pool
    root = Path(root_text)
    lines: list[str] = []
    counts: Counter[str] = Counter()
    for index in range(start, stop):
        written = _write_one(root, seed, index, now)
        counts[written.category] += 1
        a_ns, m_ns = int(written.atime * 1e9), int(written.mtime * 1e9)
        if written.category == "damaged:stale-tmp":
            m_ns = a_ns = min(a_ns, int((now - 2 * 3600) * 1e9))
        for path in written.files:
            os.utime(path, ns=(a_ns, m_ns))
            lines.append(f"{path.relative_to(root)}\t{a_ns}\t{m_ns}\n")
    return lines, counts


def _chunks(entries: int, jobs: int) -> Iterator[tuple[int, int]]:
    step = max(1, min(5000, entries // (jobs * 4) or 1))
    for start in range(0, entries, step):
        yield start, min(entries, start + step)


def generate(dest: Path, entries: int, seed: int = 0, jobs: int | None = None) -> dict[str, object]:
    """Write a cache of ``entries`` entries to ``dest/cache``; return the manifest.

    ``dest/times.tsv`` records every file's times (see ``restore_times``) and
    ``dest/manifest.json`` the parameters and the count of entries by category.
    """
    started = time.time()
    now = float(int(started))
    root = dest / CACHE_DIR
    root.mkdir(parents=True, exist_ok=False)
    pool = _project_count(entries)
    jobs = jobs or os.cpu_count() or 1
    work = [(str(root), seed, a, b, now, pool) for a, b in _chunks(entries, jobs)]
    counts: Counter[str] = Counter()
    with (dest / TIMES_FILE).open("w") as times, ProcessPoolExecutor(jobs) as executor:
        for lines, found in executor.map(_write_range, work):
            times.writelines(lines)
            counts.update(found)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    manifest: dict[str, object] = {
        "generator_version": GENERATOR_VERSION,
        "entries": entries,
        "seed": seed,
        "now": now,
        "split_days": SPLIT_DAYS,
        "bytes": size,
        "seconds": round(time.time() - started, 1),
        "categories": dict(sorted(counts.items())),
    }
    (dest / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def restore_times(dest: Path, root: Path | None = None) -> int:
    """Put back the generated atimes/mtimes on the cache in ``root`` (default ``dest/cache``).

    Returns how many files were re-timed (files that no longer exist are skipped).
    """
    root = root or dest / CACHE_DIR
    done = 0
    with (dest / TIMES_FILE).open() as times:
        for line in times:
            rel, a_ns, m_ns = line.rstrip("\n").split("\t")
            try:
                os.utime(root / rel, ns=(int(a_ns), int(m_ns)), follow_symlinks=False)
                done += 1
            except FileNotFoundError:
                pass
    return done


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: generate one cache and print its manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "dest", type=Path, help="directory to create (the cache goes in DEST/cache)"
    )
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    manifest = generate(args.dest, args.entries, args.seed, args.jobs)
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Build tiny, deterministic test distributions with the standard library only.

Every archive is byte-for-byte reproducible (fixed timestamps, permissions and ordering), so the
same catalogue always yields the same files, hashes and therefore the same cache keys.

Wheels carry a real importable module, ``METADATA``, ``WHEEL`` and ``RECORD``. Sdists carry an
in-tree PEP 517 backend (``backend.py``, ``build-backend = "backend"``, ``backend-path = ["."]``)
that needs nothing but the standard library, so pip can build them offline, with or without
build isolation.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name

#: Timestamp stored in every archive member (zip cannot go before 1980).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 315532800  # 1980-01-01T00:00:00Z

ALPHA = "alpha-pkg"
ALPHA_VERSIONS = ("1.0", "2.0")
BETA = "Beta_Pkg"
BETA_NORMALISED = "beta-pkg"
BETA_VERSION = "0.5"
GAMMA = "gamma"
GAMMA_VERSION = "1.2.3"
DELTA = "delta-zip"
DELTA_VERSION = "0.1"
BROKEN = "broken-import"
BROKEN_VERSION = "1.0"
NEEDS_MISSING = "needs-missing"
NEEDS_MISSING_VERSION = "1.0"
#: The project ``needs-missing`` requires; it is deliberately absent from the index.
MISSING_DEPENDENCY = "not-on-the-index"

WHEEL_TAG = "py3-none-any"

#: The session index serves this project's page as PEP 503 HTML only (an old-style index).
HTML_ONLY_PROJECT = DELTA
#: The session index sends PyPI's ``x-pypi-file-*`` headers on this project's files only.
PYPI_HEADERS_PROJECT = BETA
#: The session index never gzip-encodes this project's page.
PLAIN_PAGE_PROJECT = BROKEN

_BACKEND_SOURCE = '''\
"""A minimal PEP 517 build backend for pipcachex's test sdists (standard library only)."""

import base64
import hashlib
import os
import tarfile
import zipfile
from email.parser import HeaderParser

_HERE = os.path.dirname(os.path.abspath(__file__))
_SKIP = {"backend.py", "PKG-INFO", "pyproject.toml"}


def _metadata():
    with open(os.path.join(_HERE, "PKG-INFO"), encoding="utf-8") as f:
        text = f.read()
    headers = HeaderParser().parsestr(text)
    return text, headers["Name"], headers["Version"]


def _sources():
    for name in sorted(os.listdir(_HERE)):
        if name.endswith(".py") and name not in _SKIP:
            yield name


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    text, name, version = _metadata()
    stem = "%s-%s" % (name.replace("-", "_"), version)
    dist_info = stem + ".dist-info"
    members = []
    for source in _sources():
        with open(os.path.join(_HERE, source), "rb") as f:
            members.append((source, f.read()))
    members.append((dist_info + "/METADATA", text.encode("utf-8")))
    wheel_text = "Wheel-Version: 1.0\\nGenerator: pipcachex-test-backend\\n"
    wheel_text += "Root-Is-Purelib: true\\nTag: py3-none-any\\n"
    members.append((dist_info + "/WHEEL", wheel_text.encode("utf-8")))
    record = [_record_line(n, d) for n, d in members] + [dist_info + "/RECORD,,"]
    members.append((dist_info + "/RECORD", ("\\n".join(record) + "\\n").encode("utf-8")))
    filename = stem + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for member, data in members:
            info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    _, name, version = _metadata()
    stem = "%s-%s" % (name.replace("-", "_"), version)
    filename = stem + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tf:
        for member in sorted(os.listdir(_HERE)):
            tf.add(os.path.join(_HERE, member), arcname=stem + "/" + member)
    return filename
'''


@dataclasses.dataclass(frozen=True)
class Dist:
    """One distribution file of the test catalogue.

    ``kind`` is ``"wheel"``, ``"sdist"`` (tar.gz) or ``"zip-sdist"``.
    """

    project: str
    version: str
    kind: str
    module: str
    module_source: str
    requires: tuple[str, ...] = ()

    @property
    def stem(self) -> str:
        """``<name>-<version>`` as used in file names: dashes become underscores."""
        return f"{self.project.replace('-', '_')}-{self.version}"

    @property
    def filename(self) -> str:
        """The file name this distribution is published under."""
        if self.kind == "wheel":
            return f"{self.stem}-{WHEEL_TAG}.whl"
        if self.kind == "sdist":
            return f"{self.stem}.tar.gz"
        return f"{self.stem}.zip"

    @property
    def canonical_name(self) -> str:
        """The project name after ``packaging.utils.canonicalize_name``."""
        return str(canonicalize_name(self.project))

    def metadata(self) -> str:
        """Core metadata (``METADATA`` / ``PKG-INFO``) text of this distribution."""
        lines = [
            "Metadata-Version: 2.1",
            f"Name: {self.project}",
            f"Version: {self.version}",
            f"Summary: pipcachex test distribution {self.project} {self.version}",
        ]
        lines += [f"Requires-Dist: {req}" for req in self.requires]
        return "\n".join(lines) + "\n"


def _module(name: str, version: str) -> str:
    return f'"""Test module {name}."""\n\n__version__ = "{version}"\n'


_BROKEN_SOURCE = '"""Always fails to import."""\n\nraise ImportError("broken on purpose")\n'

#: Every distribution the session index serves.
CATALOGUE: tuple[Dist, ...] = (
    *(
        Dist(ALPHA, version, "wheel", "alpha_pkg", _module("alpha_pkg", version))
        for version in ALPHA_VERSIONS
    ),
    Dist(BETA, BETA_VERSION, "wheel", "beta_pkg", _module("beta_pkg", BETA_VERSION)),
    Dist(GAMMA, GAMMA_VERSION, "sdist", "gamma", _module("gamma", GAMMA_VERSION)),
    Dist(DELTA, DELTA_VERSION, "zip-sdist", "delta_zip", _module("delta_zip", DELTA_VERSION)),
    Dist(
        BROKEN,
        BROKEN_VERSION,
        "wheel",
        "broken_import",
        _BROKEN_SOURCE,
    ),
    Dist(
        NEEDS_MISSING,
        NEEDS_MISSING_VERSION,
        "wheel",
        "needs_missing",
        _module("needs_missing", NEEDS_MISSING_VERSION),
        requires=(MISSING_DEPENDENCY,),
    ),
)

#: Projects (as published, possibly non-normalised) that the index serves.
PROJECTS: tuple[str, ...] = tuple(dict.fromkeys(d.project for d in CATALOGUE))
#: Projects that exist only as sdists, so pip builds them into the cache's ``wheels/``.
SDIST_PROJECTS: tuple[str, ...] = tuple(d.project for d in CATALOGUE if d.kind != "wheel")
#: Wheel distributions of the catalogue.
WHEELS: tuple[Dist, ...] = tuple(d for d in CATALOGUE if d.kind == "wheel")


def by_filename(filename: str) -> Dist:
    """Return the catalogue entry published as ``filename``."""
    for dist in CATALOGUE:
        if dist.filename == filename:
            return dist
    raise KeyError(filename)


def record_line(name: str, data: bytes) -> str:
    """One ``RECORD`` row: path, urlsafe-base64 sha256 without padding, size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _zip_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def wheel_members(dist: Dist) -> list[tuple[str, bytes]]:
    """The members of ``dist``'s wheel, ``RECORD`` last."""
    dist_info = f"{dist.stem}.dist-info"
    wheel_text = (
        f"Wheel-Version: 1.0\nGenerator: pipcachex-tests\nRoot-Is-Purelib: true\nTag: {WHEEL_TAG}\n"
    )
    members = [
        (f"{dist.module}.py", dist.module_source.encode()),
        (f"{dist_info}/METADATA", dist.metadata().encode()),
        (f"{dist_info}/WHEEL", wheel_text.encode()),
    ]
    record = [record_line(n, d) for n, d in members] + [f"{dist_info}/RECORD,,"]
    members.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    return members


def build_wheel_bytes(dist: Dist) -> bytes:
    """Return the bytes of ``dist``'s wheel (deterministic)."""
    return _zip_bytes(wheel_members(dist))


def sdist_members(dist: Dist) -> list[tuple[str, bytes]]:
    """The members of ``dist``'s sdist, under the ``<name>-<version>/`` top directory."""
    pyproject = (
        "[build-system]\n"
        "requires = []\n"
        'build-backend = "backend"\n'
        'backend-path = ["."]\n'
        "\n"
        "[project]\n"
        f'name = "{dist.project}"\n'
        f'version = "{dist.version}"\n'
    )
    files = {
        "PKG-INFO": dist.metadata(),
        "backend.py": _BACKEND_SOURCE,
        "pyproject.toml": pyproject,
        f"{dist.module}.py": dist.module_source,
    }
    return [(f"{dist.stem}/{name}", files[name].encode()) for name in sorted(files)]


def _tar_gz_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = TAR_MTIME
            info.mode = 0o644
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def build_sdist_bytes(dist: Dist) -> bytes:
    """Return the bytes of ``dist``'s sdist (tar.gz or zip, deterministic)."""
    if dist.kind == "zip-sdist":
        return _zip_bytes(sdist_members(dist))
    return _tar_gz_bytes(sdist_members(dist))


def build_dist_bytes(dist: Dist) -> bytes:
    """Return the bytes of ``dist`` whatever its kind."""
    return build_wheel_bytes(dist) if dist.kind == "wheel" else build_sdist_bytes(dist)


def build_all(dest: Path, catalogue: Iterable[Dist] = CATALOGUE) -> list[Path]:
    """Write every distribution of ``catalogue`` into ``dest``; return the paths written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for dist in catalogue:
        path = dest / dist.filename
        path.write_bytes(build_dist_bytes(dist))
        written.append(path)
    return written

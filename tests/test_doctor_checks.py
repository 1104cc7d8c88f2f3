"""`doctor`'s pure parts: the parsers and each check, from given facts to findings (no pip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipcachex.doctor import Code, Finding, Level
from pipcachex.doctor.checks_cache import (
    LOW_SPACE,
    check_entries,
    check_filesystem,
    check_layouts,
    check_own_files,
    check_ownership,
)
from pipcachex.doctor.checks_pip import (
    cache_setting_source,
    check_caching,
    check_pip_caches,
    check_stranded,
)
from pipcachex.doctor.facts import (
    CacheFacts,
    Candidate,
    EntryProblem,
    LayoutUse,
    Location,
    OwnFiles,
    PipFacts,
    default_locations,
    refused_directory,
)
from pipcachex.doctor.filesystem import (
    FilesystemFacts,
    Mount,
    OwnershipFacts,
    mount_of,
    parse_mountinfo,
    tree_size,
)
from pipcachex.doctor.pipconfig import ConfigSetting, PipConfig, parse_config_debug, unset_command
from pipcachex.doctor.service import default_pythons

CONFIG_DEBUG = """\
env_var:
  PIP_NO_CACHE_DIR='0'
  PIP_CACHE_DIR='/srv/pip cache'
env:
  /tmp/pip.conf, exists: True
    global.no-cache-dir: true
global:
  /etc/xdg/pip/pip.conf, exists: False
  /etc/pip.conf, exists: True
    install.no-cache-dir: yes
    global.cache-dir: /var/cache/pip
site:
  /venv/pip.conf, exists: True
    download.no-cache-dir: 1
user:
  /home/ada/.pip/pip.conf, exists: True
    global.no-cache-dir: on
  /home/ada/.config/pip/pip.conf, exists: False
"""
ROOT = "/cache"
LOCAL = Mount("/", "ext4", "/dev/vda", ("rw", "relatime"))


def codes(findings: list[Finding]) -> list[tuple[Code, Level]]:
    return [(f.code, f.level) for f in findings]


def pip(python: str = "/venv/bin/python", **fields: object) -> PipFacts:
    defaults: dict[str, object] = {"version": "26.3", "cache_dir": ROOT, "http_v2": True}
    defaults.update(fields)
    return PipFacts(python, **defaults)  # type: ignore[arg-type]


def cache(**fields: object) -> CacheFacts:
    defaults: dict[str, object] = {
        "entries": 3,
        "total_size": 3000,
        "filesystem": FilesystemFacts(LOCAL, True, 10**10, 10**11),
    }
    defaults.update(fields)
    return CacheFacts(ROOT, True, **defaults)  # type: ignore[arg-type]


# -- parsers -----------------------------------------------------------------------------------


def test_config_debug_is_parsed_into_variables_files_and_settings() -> None:
    config = parse_config_debug(CONFIG_DEBUG)
    assert config.variable("PIP_NO_CACHE_DIR") == "0"
    assert config.variable("PIP_CACHE_DIR") == "/srv/pip cache"
    assert config.variable("PIP_OTHER") is None
    assert [(f.variant, f.path, f.exists) for f in config.files][:3] == [
        ("env", "/tmp/pip.conf", True),
        ("global", "/etc/xdg/pip/pip.conf", False),
        ("global", "/etc/pip.conf", True),
    ]
    found = [(s.variant, s.file, s.section, s.value) for s in config.settings_of("no-cache-dir")]
    assert found == [
        ("env", "/tmp/pip.conf", "global", "true"),
        ("global", "/etc/pip.conf", "install", "yes"),
        ("site", "/venv/pip.conf", "download", "1"),
        ("user", "/home/ada/.pip/pip.conf", "global", "on"),
    ]


@pytest.mark.parametrize(
    ("variant", "file", "key", "expected"),
    [
        # the last file of its variant: pip config edits it
        ("global", "/etc/pip.conf", "install.no-cache-dir",
         "/py -m pip config unset --global install.no-cache-dir"),
        ("site", "/venv/pip.conf", "download.no-cache-dir",
         "/py -m pip config unset --site download.no-cache-dir"),
        # not the last of its variant, or PIP_CONFIG_FILE's: pip config cannot reach it
        ("user", "/home/ada/.pip/pip.conf", "global.no-cache-dir",
         "sed -i.bak '/^[[:space:]]*no-cache-dir[[:space:]]*[=:]/d' /home/ada/.pip/pip.conf"),
        ("env", "/tmp/pip.conf", "global.no-cache-dir",
         "sed -i.bak '/^[[:space:]]*no-cache-dir[[:space:]]*[=:]/d' /tmp/pip.conf"),
    ],
)  # fmt: skip
def test_unset_command_names_the_file_the_setting_is_in(
    variant: str, file: str, key: str, expected: str
) -> None:
    config = parse_config_debug(CONFIG_DEBUG)
    assert unset_command("/py", config, ConfigSetting(variant, file, key, "1")) == expected


MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 0:40 / /home/ada/my\040cache rw,noatime - nfs4 srv:/export rw,vers=4.2
41 27 0:41 / /tmp rw,nosuid - tmpfs tmpfs rw,size=100k
42 41 0:42 / /tmp rw - ext4 /dev/vdb rw
broken line
"""


@pytest.mark.parametrize(
    ("path", "point", "fstype"),
    [
        ("/", "/", "ext4"),
        ("/usr/lib", "/", "ext4"),
        ("/home/ada/my cache/pip", "/home/ada/my cache", "nfs4"),
        ("/home/ada/my cachex", "/", "ext4"),  # a prefix of the name is not the mount
        ("/tmp/x", "/tmp", "ext4"),  # the later of two mounts on one point is the visible one
        ("/proc", "/proc", "proc"),
    ],
)
def test_mount_of_a_path(path: str, point: str, fstype: str) -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert len(mounts) == 5
    found = mount_of(path, mounts)
    assert found is not None
    assert (found.mount_point, found.fstype) == (point, fstype)


def test_mount_options_include_the_superblock_options() -> None:
    nfs = parse_mountinfo(MOUNTINFO)[2]
    assert nfs.source == "srv:/export"
    assert "noatime" in nfs.options
    assert "vers=4.2" in nfs.options


def test_refused_directory_is_read_from_pips_warning() -> None:
    warning = (
        "WARNING: The directory '/home/ada/.cache/pip' or its parent directory is not owned or "
        "is not writable by the current user. The cache has been disabled."
    )
    assert refused_directory(warning) == "/home/ada/.cache/pip"
    assert refused_directory("ERROR: pip cache commands can not function") is None


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, ["/h/.cache/pip"]),
        ("linux", {"XDG_CACHE_HOME": "/x"}, ["/x/pip", "/h/.cache/pip"]),
        ("linux", {"XDG_CACHE_HOME": "relative"}, ["/h/.cache/pip"]),  # pip ignores it too
        ("darwin", {}, ["/h/Library/Caches/pip"]),
        ("darwin", {"XDG_CACHE_HOME": "/x"}, ["/h/Library/Caches/pip", "/x/pip"]),
        ("win32", {"LOCALAPPDATA": "C:/L"}, ["C:/L/pip/Cache"]),
    ],
)
def test_default_locations(platform: str, environ: dict[str, str], expected: list[str]) -> None:
    found = default_locations(environ, platform, "/h")
    assert [loc.path.replace("\\", "/") for loc in found] == expected
    if platform == "darwin":
        assert "26.2" in found[0].reason


def test_default_pythons_add_path_interpreters_once(tmp_path: Path) -> None:
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    target = tmp_path / "real-python"
    target.write_text("#!/bin/sh\n")
    target.chmod(0o755)
    for name in ("python3", "python"):
        (bin_dir / name).symlink_to(target)
    assert default_pythons(str(bin_dir)) == [sys.executable, str(bin_dir / "python3")]
    assert default_pythons(str(tmp_path / "empty")) == [sys.executable]


def test_tree_size_counts_files_not_symlinks(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one").write_bytes(b"x" * 10)
    (tmp_path / "a" / "b" / "two").write_bytes(b"y" * 5)
    (tmp_path / "link").symlink_to(tmp_path / "a" / "one")
    assert tree_size(tmp_path) == (2, 15)
    assert tree_size(tmp_path / "missing") == (0, 0)


# -- 1. which cache each pip uses --------------------------------------------------------------


def test_each_pip_and_its_cache_and_a_shared_cache() -> None:
    env = PipConfig(variables=(("PIP_CACHE_DIR", ROOT),))
    pips = [pip(config=env), pip("/old/bin/python", version="23.2.1", http_v2=False)]
    found = check_pip_caches(pips)
    assert codes(found) == [
        (Code.PIP_CACHE, Level.OK),
        (Code.PIP_CACHE, Level.OK),
        (Code.SHARED_CACHE, Level.OK),
    ]
    assert found[0].evidence[0].where == f"PIP_CACHE_DIR={ROOT} (environment)"
    assert found[1].evidence[0].where == "the platform default"
    assert "http/" in found[1].message


def test_separate_caches_and_a_pip_without_pip() -> None:
    pips = [pip(), pip("/b/python", cache_dir="/other"), PipFacts("/c/python", problem="no pip")]
    assert codes(check_pip_caches(pips)) == [
        (Code.PIP_CACHE, Level.OK),
        (Code.PIP_CACHE, Level.OK),
        (Code.NO_PIP, Level.WARN),
        (Code.SEPARATE_CACHES, Level.OK),
    ]


def test_cache_dir_set_in_a_config_file_is_named() -> None:
    setting = ConfigSetting("site", "/venv/pip.conf", "global.cache-dir", "/srv/c")
    assert cache_setting_source(pip(config=PipConfig(settings=(setting,)))) == (
        "cache-dir = /srv/c in /venv/pip.conf [global]"
    )


# -- 2. caching switched off ------------------------------------------------------------------


def test_every_source_of_no_cache_dir_is_a_failure_with_its_fix() -> None:
    config = parse_config_debug(CONFIG_DEBUG)
    found = check_caching([pip(config=config, disabled=True, cache_dir=None), pip(config=config)])
    assert {f.level for f in found} == {Level.FAIL}
    assert [f.fix for f in found] == [
        "unset PIP_NO_CACHE_DIR",
        "sed -i.bak '/^[[:space:]]*no-cache-dir[[:space:]]*[=:]/d' /tmp/pip.conf",
        "/venv/bin/python -m pip config unset --global install.no-cache-dir",
        "/venv/bin/python -m pip config unset --site download.no-cache-dir",
        "sed -i.bak '/^[[:space:]]*no-cache-dir[[:space:]]*[=:]/d' /home/ada/.pip/pip.conf",
    ]  # once each, though two pips read them
    assert "`pip install` caches nothing" in found[2].message
    assert found[0].evidence[0].value == "PIP_NO_CACHE_DIR=0"


def test_pip_reporting_its_cache_disabled_for_no_known_reason() -> None:
    said = "ERROR: pip cache commands can not function since cache is disabled."
    found = check_caching([pip(disabled=True, cache_dir=None, pip_message=said)])
    assert codes(found) == [(Code.CACHING_DISABLED, Level.FAIL)]
    assert found[0].evidence[0].value == said


def test_caching_enabled_and_a_refused_cache_left_to_the_ownership_check() -> None:
    assert codes(check_caching([pip()])) == [(Code.CACHING_ENABLED, Level.OK)]
    refused = pip(disabled=True, cache_dir=None, refused_dir=ROOT)
    assert codes(check_caching([refused])) == [(Code.CACHING_ENABLED, Level.OK)]


# -- 3. owners -----------------------------------------------------------------------------------


def owners(**fields: object) -> OwnershipFacts:
    defaults: dict[str, object] = {
        "uid": 1000,
        "user": "ada",
        "group": "staff",
        "pip_accepts_root": True,
        "root_owner": 1000,
        "not_owned": 0,
        "not_writable": 0,
        "examples": (),
    }
    defaults.update(fields)
    return OwnershipFacts(**defaults)  # type: ignore[arg-type]


def test_files_of_another_user_are_counted_and_chowned() -> None:
    facts = owners(not_owned=3, affected=3, examples=("/cache/http-v2/a",))
    [finding] = check_ownership(cache(ownership=facts), [])
    assert (finding.code, finding.level) == (Code.NOT_OWNED, Level.WARN)
    assert finding.fix == "sudo chown -R ada:staff /cache"
    assert [e.value for e in finding.evidence] == [3, 0, "/cache/http-v2/a"]
    assert finding.message.startswith("3 files and directories")
    locked = check_ownership(cache(ownership=owners(not_writable=1, affected=1)), [])
    assert codes(locked) == [(Code.NOT_OWNED, Level.FAIL)]


def test_a_cache_pip_refuses_is_a_failure() -> None:
    facts = owners(uid=0, user="root", group="root", pip_accepts_root=False, root_owner=1000)
    refused = pip("/py", cache_dir=None, disabled=True, refused_dir=ROOT)
    found = check_ownership(cache(ownership=facts), [refused])
    assert codes(found) == [(Code.CACHE_REFUSED, Level.FAIL)]
    assert found[0].fix == "chown -R root:root /cache"  # root needs no sudo
    assert "pip warned" in [e.what for e in found[0].evidence]


def test_ownership_ok_and_nothing_where_owners_are_unknown() -> None:
    assert codes(check_ownership(cache(ownership=owners()), [])) == [(Code.OWNERSHIP_OK, Level.OK)]
    assert check_ownership(cache(ownership=None), []) == []


# -- 4. layouts ------------------------------------------------------------------------------


MIXED = (LayoutUse("http", 4, 4000), LayoutUse("http-v2", 5, 5000))


def test_old_and_new_pips_sharing_both_layouts() -> None:
    pips = [pip(), pip("/old/python", version="23.2.1", http_v2=False)]
    [finding] = check_layouts(cache(layouts=MIXED), pips)
    assert (finding.code, finding.level) == (Code.MIXED_LAYOUTS, Level.WARN)
    assert finding.fix == "/old/python -m pip install --upgrade 'pip>=23.3'"


def test_legacy_layout_no_pip_here_reads() -> None:
    [finding] = check_layouts(cache(layouts=MIXED), [pip()])
    assert (finding.code, finding.level) == (Code.LEGACY_LAYOUT_UNUSED, Level.WARN)
    assert finding.fix == "pipcachex purge --layout http --cache-dir /cache"


@pytest.mark.parametrize(
    "layouts",
    [(LayoutUse("http-v2", 5, 5000),), (LayoutUse("http", 4, 4000),), MIXED],
)
def test_layouts_ok(layouts: tuple[LayoutUse, ...]) -> None:
    old = pip("/old/python", version="23.2.1", http_v2=False)
    pips = [old] if layouts[0].layout == "http" else [pip()]
    if layouts is MIXED:
        pips = [pip(cache_dir="/elsewhere")]  # no pip here uses this cache
    assert codes(check_layouts(cache(layouts=layouts), pips)) == [(Code.LAYOUTS, Level.OK)]


# -- 5. stranded caches --------------------------------------------------------------------------


def test_a_default_cache_no_pip_uses_is_stranded() -> None:
    old = Candidate(Location("/h/Library/Caches/pip", "macOS before 26.2"), True, 12, 9000)
    [finding] = check_stranded([old], ["/x/pip"])
    assert (finding.code, finding.level) == (Code.STRANDED_CACHE, Level.WARN)
    assert finding.fix == "pipcachex purge --cache-dir /h/Library/Caches/pip"
    assert [e.value for e in finding.evidence] == ["/h/Library/Caches/pip", 12, 9000]


@pytest.mark.parametrize(
    "candidate",
    [
        Candidate(Location("/x/pip", "in use"), True, 12, 9000),  # the cache in use
        Candidate(Location("/h/.cache/pip", "empty"), True, 0, 0),
        Candidate(Location("/h/.cache/pip", "not a cache"), False, 0, 0),
    ],
)
def test_no_stranded_cache(candidate: Candidate) -> None:
    assert codes(check_stranded([candidate], ["/x/pip"])) == [(Code.NO_STRANDED_CACHE, Level.OK)]


# -- 6. file system ---------------------------------------------------------------------------


def fs_codes(facts: FilesystemFacts, size: int = 3000) -> list[tuple[Code, Level]]:
    return codes(check_filesystem(cache(filesystem=facts, total_size=size)))


def test_noatime_network_and_low_space() -> None:
    nfs = Mount("/srv", "nfs4", "srv:/e", ("rw", "noatime"))
    found = check_filesystem(cache(filesystem=FilesystemFacts(nfs, False, 10**6, 10**9)))
    assert codes(found) == [
        (Code.READS_NOT_RECORDED, Level.WARN),
        (Code.LOW_DISK_SPACE, Level.FAIL),
        (Code.NETWORK_FILESYSTEM, Level.WARN),
    ]
    assert found[0].fix == "sudo mount -o remount,atime,relatime /srv"
    assert found[1].fix == "pipcachex purge --max-size 1MB --cache-dir /cache"


def test_a_cache_larger_than_the_space_left_on_tmpfs() -> None:
    tmpfs = Mount("/dev/shm", "tmpfs", "tmpfs", ("rw",))
    facts = FilesystemFacts(tmpfs, True, LOW_SPACE + 1, 10**12)
    assert "on every read (strictatime)" in check_filesystem(cache(filesystem=facts))[0].message
    assert fs_codes(facts, size=10**10) == [
        (Code.READS_RECORDED, Level.OK),
        (Code.LOW_DISK_SPACE, Level.WARN),
        (Code.TEMPORARY_FILESYSTEM, Level.WARN),
    ]


def test_filesystem_all_ok() -> None:
    found = check_filesystem(cache())
    assert codes(found) == [
        (Code.READS_RECORDED, Level.OK),
        (Code.DISK_SPACE, Level.OK),
        (Code.LOCAL_FILESYSTEM, Level.OK),
    ]
    assert "once a day" in found[0].message
    unknown = FilesystemFacts(None, True, None, None)
    assert fs_codes(unknown) == [(Code.READS_RECORDED, Level.OK), (Code.LOCAL_FILESYSTEM, Level.OK)]


# -- 7. entries and pipcachex's own files ----------------------------------------------------


def test_damaged_entries_and_stale_temp_files() -> None:
    damaged = (EntryProblem("/cache/http-v2/a/b", "truncated", 10),)
    stale = (EntryProblem("/cache/http-v2/a/c.tmp", "stale temporary file", 64),)
    found = check_entries(cache(damaged=damaged, stale=stale))
    assert codes(found) == [
        (Code.DAMAGED_ENTRIES, Level.FAIL),
        (Code.STALE_TEMP_FILES, Level.WARN),
    ]
    assert {f.fix for f in found} == {"pipcachex verify --fix --cache-dir /cache"}


def test_unreadable_directories_are_named_and_the_rest_still_judged() -> None:
    owner = OwnershipFacts(1000, "ada", "staff", True, 1000, 1, 1, (), 1)
    unreadable = ("/cache/wheels/ab: Permission denied",)
    found = check_entries(cache(unreadable=unreadable, ownership=owner))
    assert codes(found) == [(Code.UNREADABLE, Level.WARN), (Code.ENTRIES_INTACT, Level.OK)]
    assert found[0].evidence[1].value == "/cache/wheels/ab: Permission denied"
    assert found[0].fix == "sudo chown -R ada:staff /cache"


def test_intact_and_missing_caches() -> None:
    assert codes(check_entries(cache())) == [(Code.ENTRIES_INTACT, Level.OK)]
    assert codes(check_entries(CacheFacts(ROOT, False))) == [(Code.CACHE_MISSING, Level.OK)]
    assert check_filesystem(CacheFacts(ROOT, False)) == []
    assert check_layouts(CacheFacts(ROOT, False), [pip()]) == []


def test_own_files_are_reported_with_sizes() -> None:
    own = OwnFiles("/m", 2, 300, "/b", 1, 5000)
    [finding] = check_own_files(own)
    assert finding.level is Level.OK
    assert [(e.value, e.where) for e in finding.evidence] == [
        ("/m", "2 files, 300 bytes"),
        ("/b", "1 files, 5000 bytes"),
    ]

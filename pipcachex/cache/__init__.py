"""Reading pip's cache directory: the only code that walks the cache tree.

``scan_cache`` turns a cache directory into ``CacheEntry`` records, each one logical thing pip
stored (an HTTP response, a built-wheel directory, pip's own state, or a damaged/unknown file),
with its project, version, size and times.
"""

from pipcachex.cache.directory import check_cache_dir
from pipcachex.cache.model import CacheEntry, CacheFile, Kind, Layout, Problem, ProblemCode
from pipcachex.cache.scan import CacheScan, CacheWalk, scan_cache

__all__ = [
    "CacheEntry",
    "CacheFile",
    "CacheScan",
    "CacheWalk",
    "Kind",
    "Layout",
    "Problem",
    "ProblemCode",
    "check_cache_dir",
    "scan_cache",
]

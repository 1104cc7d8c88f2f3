"""Entry point of the worker processes: readers of entries, or walkers with ``walk``.

See ``cache.readers`` and ``cache.walkers``.
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:] == ["walk"]:
        from pipcachex.cache.scan import walk_worker
        from pipcachex.cache.walkers import serve as serve_walks

        serve_walks(walk_worker)
    else:
        from pipcachex.cache.readers import serve

        serve()

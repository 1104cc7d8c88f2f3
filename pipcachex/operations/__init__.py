"""The operations on a cache that the commands run: list, info, purge, verify and check.

Each module is a service over the cache package (``pipcachex.cache``): it takes parsed options,
returns frozen dataclasses and never prints (the renderers in ``pipcachex.render`` do). Backups,
export and doctor are operations too, large enough to be packages of their own
(``pipcachex.backup``, ``pipcachex.export``, ``pipcachex.doctor``).
"""

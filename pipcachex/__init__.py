"""pipcachex: see, prune, back up, verify and re-check pip's cache."""

__version__ = "0.1.0"

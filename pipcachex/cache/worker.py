"""Entry point of the worker processes that read cache entries (see ``cache.readers``)."""

from pipcachex.cache.readers import serve

if __name__ == "__main__":
    serve()

"""Entry point of the processes that read cache entries for ``cache.attribute.attribute_many``."""

from pipcachex.cache.attribute import serve

if __name__ == "__main__":
    serve()

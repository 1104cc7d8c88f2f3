"""Lets ``python -m pipcachex`` run the command-line tool."""

from pipcachex.cli import main

if __name__ == "__main__":
    main()

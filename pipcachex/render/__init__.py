"""Turning service results into what the user sees: rich tables for people, JSON for scripts.

Results and tables go to stdout; messages, warnings and progress go to stderr, so that
``--json`` output on stdout is always exactly one JSON document. One module per command family;
``tables`` holds the shapes they share. Import the submodule you need: a command loads only
its own renderer.
"""

"""`make demo`, run as `python3 -m demo` from the repository root (see __main__.py)."""

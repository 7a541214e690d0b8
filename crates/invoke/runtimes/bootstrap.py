"""Starts Versa's Python runtime client, `versa_runtime.py` beside this file. Imported rather
than run, so its bytecode comes from `__pycache__` (compiled once per interpreter by the
server) instead of being compiled again at every cold start."""

from versa_runtime import main

main()

"""Core: axes and skips, tiers, eras, the runtime and its backends, synthetic models, files.

Imports nothing else of pyhf_bench; every feature package builds on it.
"""

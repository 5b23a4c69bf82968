"""Experiment-specific runners: importable, so worker processes can run them."""

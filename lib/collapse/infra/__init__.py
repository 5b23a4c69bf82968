"""Notebook infrastructure: modes and sizes, the results store, jobs, figures. None of it changes a number."""

"""Tooling of the course, apart from the teaching code: the notebooks' text form and the benchmark."""

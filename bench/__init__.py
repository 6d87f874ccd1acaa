"""Benchmarks: the hot endpoints under wrk, each next to a bare Sanic baseline, with
correctness checks after every load. Run `python -m bench --help`."""

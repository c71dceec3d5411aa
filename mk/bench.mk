# Benchmark of the backup's PostgreSQL part against pg_dump / pg_restore, included from the top-level Makefile.
#   make bench   [BENCH_SIZES="2000 20000 200000"] [BENCH_SKIP=gzip9,restore_default] [BENCH_DIMS=1536]
# Works in scratch databases (mem0ops_bench*) of the lab's PostgreSQL, dropped at the end; writes
# .build/bench/results.json, results.md and bench.png. See tests/bench/bench_backup.py.
# Including this file does not change the including Makefile's default goal.

BENCH_DEFAULT_GOAL := $(.DEFAULT_GOAL)

VENV ?= .venv
PY ?= $(VENV)/bin/python
BENCH_SIZES ?= 2000 20000 200000
BENCH_SKIP ?=
BENCH_DIMS ?= 1536

BENCH_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

.PHONY: bench bench-venv

bench-venv: $(VENV)/.bench-installed
$(VENV)/.bench-installed: $(BENCH_ROOT)/requirements-bench.txt $(VENV)/.installed
	$(VENV)/bin/pip install -q --disable-pip-version-check -r $(BENCH_ROOT)/requirements-bench.txt
	touch $@

bench: lab bench-venv
	cd $(BENCH_ROOT) && ANSIBLE_CONFIG=$(BENCH_ROOT)/ansible.cfg BENCH_SIZES="$(BENCH_SIZES)" BENCH_SKIP="$(BENCH_SKIP)" \
		BENCH_DIMS="$(BENCH_DIMS)" $(abspath $(PY)) -m tests.bench.bench_backup

.DEFAULT_GOAL := $(BENCH_DEFAULT_GOAL)

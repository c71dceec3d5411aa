# Benchmark of the backup's PostgreSQL part against pg_dump / pg_restore, and of the memory count against the raw
# GROUP BY in psql, included from the top-level Makefile.
#   make bench   [BENCH_SIZES="2000 20000 200000"] [BENCH_RUNS=3] [BENCH_COUNT_ROWS=1000000] [BENCH_DIMS=1536]
#                [BENCH_SKIP=gzip9,restore_default] [BENCH_JOBS=2] [BENCH_WORKERS=2] [BENCH_COUNT_DIMS=768]
# Every figure is the median of BENCH_RUNS runs, each the wall clock of one process from start to exit, ours and the
# anchors alike; BENCH_COUNT_ROWS=0 skips the count. Works in scratch databases (mem0ops_bench*) of the lab's
# PostgreSQL, dropped at the end; writes .build/bench/results.json, results.md and bench.png, and prints the table
# with every target's verdict. See tests/bench/bench_backup.py. Then the re-embedding against the embedder's own batch
# throughput and its downtime part (tests/bench/bench_reembed.py, BENCH_REEMBED_ROWS, default 20000), and the adoption
# of an old script's set against gunzip | psql of the same file (tests/bench/bench_adopt.py, BENCH_ADOPT_MEMORIES,
# default 20000; the old set is cached in .build/bench), and reset.yml of the seeded state on a scratch stack, its
# downtime and total against issue 15's targets (tests/bench/bench_reset.py; re-seeded after each run).
# Including this file does not change the including Makefile's default goal.

BENCH_DEFAULT_GOAL := $(.DEFAULT_GOAL)

VENV ?= .venv
PY ?= $(VENV)/bin/python
BENCH_SIZES ?= 2000 20000 200000
BENCH_RUNS ?= 3
BENCH_SKIP ?=
BENCH_DIMS ?= 1536
BENCH_JOBS ?= 2
BENCH_WORKERS ?= 2
BENCH_COUNT_ROWS ?= 1000000
BENCH_COUNT_DIMS ?= 768

BENCH_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

.PHONY: bench bench-venv

bench-venv: $(VENV)/.bench-installed
$(VENV)/.bench-installed: $(BENCH_ROOT)/requirements-bench.txt $(VENV)/.installed
	$(VENV)/bin/pip install -q --disable-pip-version-check -r $(BENCH_ROOT)/requirements-bench.txt
	touch $@

bench: lab bench-venv
	cd $(BENCH_ROOT) && ANSIBLE_CONFIG=$(BENCH_ROOT)/ansible.cfg BENCH_SIZES="$(BENCH_SIZES)" BENCH_RUNS="$(BENCH_RUNS)" \
		BENCH_SKIP="$(BENCH_SKIP)" BENCH_DIMS="$(BENCH_DIMS)" BENCH_JOBS="$(BENCH_JOBS)" BENCH_WORKERS="$(BENCH_WORKERS)" \
		BENCH_COUNT_ROWS="$(BENCH_COUNT_ROWS)" BENCH_COUNT_DIMS="$(BENCH_COUNT_DIMS)" \
		$(abspath $(PY)) -m tests.bench.bench_backup
	cd $(BENCH_ROOT) && ANSIBLE_CONFIG=$(BENCH_ROOT)/ansible.cfg BENCH_RUNS="$(BENCH_RUNS)" $(abspath $(PY)) -m tests.bench.bench_reembed
	cd $(BENCH_ROOT) && ANSIBLE_CONFIG=$(BENCH_ROOT)/ansible.cfg BENCH_RUNS="$(BENCH_RUNS)" $(abspath $(PY)) -m tests.bench.bench_adopt
	cd $(BENCH_ROOT) && ANSIBLE_CONFIG=$(BENCH_ROOT)/ansible.cfg BENCH_RUNS="$(BENCH_RUNS)" $(abspath $(PY)) -m tests.bench.bench_reset

.DEFAULT_GOAL := $(BENCH_DEFAULT_GOAL)

# mem0ops.stack: two entry points.
#   make demo  - toolchain, the lab with seeded data, and the main job against it
#   make test  - every check (lint, sanity, unit, integration against the lab)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
INVENTORY ?= inventories/lab
PLAYBOOK := $(VENV)/bin/ansible-playbook -i $(INVENTORY)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

include mk/gates.mk
include mk/bench.mk

.PHONY: help demo test venv engine lab lab-down status integration

help:
	@echo "make demo   toolchain + lab with seeded data + the main job against it"
	@echo "make test   every check: lint, sanity, unit, integration on the lab"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

engine:
	bash lab/bin/engine.sh

lab: venv engine collection-link
	$(PLAYBOOK) playbooks/lab.yml

lab-down: venv collection-link
	$(PLAYBOOK) playbooks/lab.yml -e lab_state=absent

status: venv collection-link
	$(PLAYBOOK) playbooks/status.yml

demo: lab
	$(PLAYBOOK) playbooks/reset.yml --check

integration: lab
	$(VENV)/bin/pytest -m integration tests/integration

test: lab lint sanity unit integration molecule

.PHONY: molecule
MOLECULE_SCENARIOS ?= lab services check reset restore schedule
molecule: lab
	cd $(CURDIR) && for s in $(MOLECULE_SCENARIOS); do $(VENV)/bin/molecule test -s $$s || exit 1; done

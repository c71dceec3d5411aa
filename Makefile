# mem0ops.stack: two entry points.
#   make demo  - toolchain, the lab with seeded data, and the main job against it
#   make test  - every check (lint, sanity, unit, integration against the lab, molecule), timed per stage
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

.PHONY: help demo test venv engine lab _lab lab-down status integration _integration

help:
	@echo "make demo   toolchain + lab with seeded data + the main job against it"
	@echo "make test   every check: lint, sanity, unit, integration on the lab, molecule; seconds per stage at the end"

# The developer toolchain (requirements-dev.txt), which includes the collection's runtime requirements
# (requirements.txt).
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The execution environment's build context (execution-environment.yml) in .build/ee-context: the collection built
# from this tree into .build/ee-src/mem0ops-stack.tar.gz, then `ansible-builder create` (no image is built).
EE_SRC := .build/ee-src
EE_CONTEXT := .build/ee-context
.PHONY: ee-context
ee-context: venv
	rm -rf $(EE_SRC) $(EE_CONTEXT)
	$(VENV)/bin/ansible-galaxy collection build --output-path $(EE_SRC) .
	mv $(EE_SRC)/mem0ops-stack-*.tar.gz $(EE_SRC)/mem0ops-stack.tar.gz
	$(VENV)/bin/ansible-builder create -f execution-environment.yml -c $(EE_CONTEXT) --output-filename Containerfile

engine:
	bash lab/bin/engine.sh

lab: venv engine collection-link _lab
_lab:
	$(PLAYBOOK) playbooks/lab.yml

lab-down: venv collection-link
	$(PLAYBOOK) playbooks/lab.yml -e lab_state=absent

status: venv collection-link
	$(PLAYBOOK) playbooks/status.yml

demo: lab
	$(PLAYBOOK) playbooks/reset.yml --check

# Each check also has a target without prerequisites (_name), so that make test's stage runner brings the lab up once.
# The tests on the scratch stack run in a second pytest beside the lab's (mk/integration.sh).
integration: lab _integration
_integration:
	bash mk/integration.sh $(VENV)/bin/pytest $(PYTEST_ARGS)

MOLECULE_SCENARIOS ?= lab services
.PHONY: molecule
# (_molecule-<scenario> is a pattern rule: a phony target would skip it)
molecule: lab $(addprefix _molecule-,$(MOLECULE_SCENARIOS))
_molecule-%:
	cd $(CURDIR) && $(VENV)/bin/molecule test -s $*

# make test: every check in stages, timed, with one table of every stage's seconds at the end (mk/stages.sh).
# Budget: 40 minutes on a fresh clone of a machine where no lab image was ever built.
# The checks that need no lab (lint, sanity, unit, the execution environment's build context) run in the background
# while the lab is built (mk/stages.sh, &).
TEST_STAGES = toolchain=venv! engine=engine! collection-link=collection-link! lint=lint\& sanity=sanity\& unit=unit\& \
	ee-context=ee-context\& lab=_lab! integration=_integration \
	$(foreach s,$(MOLECULE_SCENARIOS),molecule-$(s)=_molecule-$(s))
test:
	@bash mk/stages.sh $(TEST_STAGES)

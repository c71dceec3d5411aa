# Quality gates of the mem0ops.stack collection, included from the top-level Makefile.
#   make collection-link   link .build/collections/ansible_collections/mem0ops/stack -> this repository
#   make lint              ansible-lint, profile production (.ansible-lint), offline      [LINT_ARGS=...]
#   make sanity            ansible-test sanity on a copy of the files git would ship      [SANITY_ARGS=...]
#   make unit              pytest tests/unit                                               [PYTEST_ARGS=...]
# Including this file does not change the including Makefile's default goal.

GATES_DEFAULT_GOAL := $(.DEFAULT_GOAL)

VENV ?= .venv
PY ?= $(VENV)/bin/python
ANSIBLE_TEST_PYTHON ?= 3.11

GATES_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
GATES_VENV = $(abspath $(VENV))
COLLECTION_LINK := $(GATES_ROOT)/.build/collections/ansible_collections/mem0ops/stack
SANITY_ROOT := $(GATES_ROOT)/.build/sanity
SANITY_DIR := $(SANITY_ROOT)/ansible_collections/mem0ops/stack

# ansible-test bootstraps pip into every sanity virtualenv with a script it downloads from
# ci-files.testing.ansible.com (unreachable here) unless its cache holds one: seed the cache with
# mk/ansible_test_get_pip.py, which installs the same pinned pip from PyPI.
ANSIBLE_TEST_PIP = $(shell $(GATES_VENV)/bin/python -c "import types; from ansible_test._internal.python_requirements import get_venv_packages as g; print(g(types.SimpleNamespace(version='$(ANSIBLE_TEST_PYTHON)'))['pip'])")
ANSIBLE_TEST_GET_PIP = $(HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py

.PHONY: collection-link lint sanity unit ansible-test-get-pip

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@if [ "$$(readlink $(COLLECTION_LINK))" != "../../../.." ]; then \
		rm -rf $(COLLECTION_LINK) && ln -s ../../../.. $(COLLECTION_LINK) && echo "linked $(COLLECTION_LINK)"; \
	fi

lint: collection-link
	cd $(GATES_ROOT) && PATH=$(GATES_VENV)/bin:$$PATH ANSIBLE_CONFIG=$(GATES_ROOT)/ansible.cfg \
		$(GATES_VENV)/bin/ansible-lint $(LINT_ARGS)

# ansible-test needs the collection at .../ansible_collections/<namespace>/<name>/ and checks every file
# there: the copy holds exactly the tracked + untracked-not-ignored files and is its own git repository.
sanity: ansible-test-get-pip
	rm -rf $(SANITY_ROOT)
	mkdir -p $(SANITY_DIR)
	cd $(GATES_ROOT) && git ls-files -co --exclude-standard -z \
		| xargs -0 -r sh -c 'for f; do [ -e "$$f" ] || [ -L "$$f" ] && printf "%s\0" "$$f"; done' sh \
		| tar --null -T - -cf - | tar -xf - -C $(SANITY_DIR)
	cd $(SANITY_DIR) && git init -q && git add -A
	cd $(SANITY_DIR) && PATH=$(GATES_VENV)/bin:$$PATH $(GATES_VENV)/bin/ansible-test sanity \
		--python $(ANSIBLE_TEST_PYTHON) --color no $(SANITY_ARGS)

ansible-test-get-pip:
	@test -s $(ANSIBLE_TEST_GET_PIP) || install -D -m 0644 $(GATES_ROOT)/mk/ansible_test_get_pip.py $(ANSIBLE_TEST_GET_PIP)

unit: collection-link
	cd $(GATES_ROOT) && $(GATES_VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

.DEFAULT_GOAL := $(GATES_DEFAULT_GOAL)

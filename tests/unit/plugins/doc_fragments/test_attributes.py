# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""doc_fragments.attributes: the base describes every attribute and the action group, the variants only their support."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.mem0ops.stack.plugins.doc_fragments.attributes import ModuleDocFragment


@pytest.mark.parametrize("variant, supports", [
    ("CHECK_DIFF_FULL", {"check_mode": "full", "diff_mode": "full"}),
    ("WRITES_EVERY_RUN", {"check_mode": "full", "diff_mode": "none", "idempotent": "none"}),
    ("READ_ONLY", {"check_mode": "full", "diff_mode": "N/A", "idempotent": "full"}),
])
def test_support_fragments_say_only_the_support_of_what_the_base_describes(variant, supports):
    base = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["attributes"]
    attributes = yaml.safe_load(getattr(ModuleDocFragment, variant))["attributes"]
    assert set(attributes) <= set(base) - {"action_group"}
    assert {name: a["support"] for name, a in attributes.items()} == supports
    assert not any("description" in a for a in attributes.values())


def test_the_base_names_the_action_group():
    assert yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["attributes"]["action_group"]["membership"] == ["mem0ops.stack.all"]


def test_every_module_is_in_the_action_group_the_fragments_name():
    root = Path(__file__).resolve().parents[4]
    runtime = yaml.safe_load((root / "meta" / "runtime.yml").read_text())
    modules = sorted(p.stem for p in (root / "plugins" / "modules").glob("*.py"))
    assert sorted(runtime["action_groups"]["all"]) == modules

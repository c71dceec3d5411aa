# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Action attributes shared by the mem0ops.stack modules.

    Every module extends the base fragment (C(mem0ops.stack.attributes)), which also says that it is in the action
    group C(group/mem0ops.stack.all) (meta/runtime.yml), together with the support fragment below that fits it,
    for example C(mem0ops.stack.attributes.read_only); the module adds the details of its own attributes.
    """

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled or queried by the module has not changed in a relevant way.
  action_group:
    description: Use C(group/mem0ops.stack.all) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - mem0ops.stack.all
"""

    # A module that changes something and can predict it (check mode) and show it (diff mode); it says how far it is
    # idempotent.
    CHECK_DIFF_FULL = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

    # A module whose every run writes something new (a dump, a copy, a capture): check mode predicts it, there is no
    # diff to show, and a second run writes again.
    WRITES_EVERY_RUN = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: none
"""

    # A module that only reads: it never reports changed, so check mode is exact and diff mode has nothing to show.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""

# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The embedder options of the modules that embed text through mem0's own embedder (the inventory's
    C(mem0_stack.embedding)); their argument spec is C(module_utils.embeddings.embedder_argument_spec)."""

    DOCUMENTATION = r"""
options:
  embedding:
    description:
      - The inventory's C(mem0_stack.embedding), the model texts are embedded with.
    type: dict
    required: true
    suboptions:
      provider:
        description: mem0's embedder provider.
        type: str
        default: ollama
      model:
        description: The embedding model.
        type: str
        required: true
      dims:
        description: The dimension the model returns.
        type: int
        required: true
      base_url:
        description: The embedder's URL.
        type: str
  embedder_api_key:
    description: The API key of a hosted embedder.
    type: str
"""

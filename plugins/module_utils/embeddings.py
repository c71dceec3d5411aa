# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What is known about embedding models and their dimensions."""

from __future__ import annotations

import re

# The dimension each model really returns (not what a client library assumes: mem0 defaults to 1536
# and its Ollama embedder to 512, whatever the model).
KNOWN_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "all-minilm-l6-v2": 384,
}

_VECTOR_TYPE = re.compile(r"^vector\((\d+)\)$")


def normalise_model(model: str) -> str:
    """'nomic-embed-text:latest' -> 'nomic-embed-text', 'sentence-transformers/all-MiniLM-L6-v2' -> 'all-minilm-l6-v2'."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.endswith(":latest"):
        name = name[: -len(":latest")]
    return name


def known_dims(model: str):
    """The model's true dimension, or None when the model is not known."""
    name = normalise_model(model)
    if name in KNOWN_DIMS:
        return KNOWN_DIMS[name]
    return KNOWN_DIMS.get(name.split(":", 1)[0])


def declared_dims(type_name):
    """'vector(768)' -> 768; None for anything else."""
    match = _VECTOR_TYPE.match(type_name or "")
    return int(match.group(1)) if match else None

# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What is known about embedding models and their dimensions."""

from __future__ import annotations

import os
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


# The model mem0's embedder uses when its config names none (mem0ai 2.x).
MEM0_DEFAULT_MODELS = {
    "openai": "text-embedding-3-small",
    "ollama": "nomic-embed-text",
}

# Models whose API returns a shorter vector on request (OpenAI's `dimensions` field). mem0's openai
# embedder sends embedding_dims as `dimensions` whenever it is set, so there the configured size is
# what comes back; every other model returns its own size whatever mem0 is told.
SHORTENABLE_MODELS = frozenset({"text-embedding-3-small", "text-embedding-3-large"})
SHORTENING_PROVIDERS = frozenset({"openai"})


def default_model(provider):
    """The model mem0 falls back to for this embedder provider, or None."""
    return MEM0_DEFAULT_MODELS.get((provider or "").strip().lower())


def models_with_dims(dims) -> list:
    """Known model names that return this many dims, in KNOWN_DIMS order (the usual one first)."""
    return [name for name, value in KNOWN_DIMS.items() if value == dims]


def returned_dims(provider, model, configured=None):
    """What the model returns when mem0 calls it: its known size, or the configured one for a
    shortenable model called through a provider that passes it on; None when the model is unknown."""
    native = known_dims(model)
    if (native is not None and configured and configured <= native
            and (provider or "").strip().lower() in SHORTENING_PROVIDERS
            and normalise_model(model) in SHORTENABLE_MODELS):
        return configured
    return native


def embedder_argument_spec() -> dict:
    """The options of doc fragment mem0ops.stack.embedder: the inventory's embedding and a hosted embedder's key."""
    return dict(
        embedding=dict(type="dict", required=True, options=dict(
            provider=dict(type="str", default="ollama"),
            model=dict(type="str", required=True),
            dims=dict(type="int", required=True),
            base_url=dict(type="str"),
        )),
        embedder_api_key=dict(type="str", no_log=True),
    )


def embedder_config(embedding, api_key=None):
    """The ``embedder`` section of mem0's config for the inventory's mem0_stack.embedding."""
    provider = embedding.get("provider") or "ollama"
    config = {"model": embedding.get("model"), "embedding_dims": int(embedding["dims"])}
    base_url = embedding.get("base_url")
    if base_url and provider == "ollama":
        config["ollama_base_url"] = base_url
    elif base_url and provider in ("openai", "lmstudio"):
        config["%s_base_url" % provider] = base_url
    if api_key:
        config["api_key"] = api_key
    return {"provider": provider, "config": dict((k, v) for k, v in config.items() if v is not None)}


def mem0_embedder(embedding, api_key=None):
    """mem0's own embedder for the inventory's mem0_stack.embedding (the class and the calls mem0's server makes, so
    a vector computed here is the one mem0 would store): ``embed_batch(texts, "add")`` returns one vector per text.
    Needs the mem0ai library; telemetry stays off."""
    os.environ["MEM0_TELEMETRY"] = "false"  # read by mem0 at import time
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from mem0.utils.factory import EmbedderFactory  # pylint: disable=import-outside-toplevel

    section = embedder_config(embedding, api_key)
    return EmbedderFactory.create(section["provider"], section["config"], None)

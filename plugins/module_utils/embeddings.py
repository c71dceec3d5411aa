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


# --- comparing dimensions (embedding_dim_check's verdict; mem0_backup_set's restore_needs) ----------------------
def source(name: str, role: str, dims, detail: str = "") -> dict:
    return {"source": name, "role": role, "dims": dims, "detail": detail}


def _dims_values(value) -> list:
    """Dimensions held by a manifest value: a number, a list of numbers, or a mapping of dimension to count."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value] if value > 0 else []
    if isinstance(value, list):
        return sorted(set(v for v in value if isinstance(v, int) and not isinstance(v, bool) and v > 0))
    if isinstance(value, dict) and value and all(str(k).isdigit() for k in value):
        return sorted(set(int(k) for k in value if int(k) > 0))
    if isinstance(value, str):
        parsed = declared_dims(value.strip())
        if parsed:
            return [parsed]
        if value.strip().isdigit() and int(value) > 0:
            return [int(value)]
    return []


def manifest_dims(doc, path: str = "") -> list:
    """(key path, [dims]) for every key whose name contains 'dim', depth first in document order."""
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            where = "%s.%s" % (path, key) if path else str(key)
            dims = _dims_values(value) if "dim" in str(key).lower() else []
            if dims:
                found.append((where, dims))
            elif isinstance(value, (dict, list)):
                found += manifest_dims(value, where)
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += manifest_dims(value, "%s[%d]" % (path, index))
    return found


def data_model_hint(dims: int) -> str:
    names = models_with_dims(dims)
    return "%s, %d" % (names[0], dims) if names else "a %d-dim model" % dims


def judge(sources: list, memories=None, model=None) -> dict:
    """Whether the sources agree; each mismatch as a sentence with its way out."""
    def dims_of(role):
        return [s["dims"] for s in sources if s["role"] == role and s["dims"]]

    data, probed, known, configured = dims_of("data"), dims_of("probe"), dims_of("model"), dims_of("config")
    returned = sorted(set(probed or known))
    everything = set(s["dims"] for s in sources if s["dims"])
    verdict = {"agree": len(everything) <= 1, "dims": min(everything) if len(everything) == 1 else None,
               "data_dims": sorted(set(data)), "embedder_dims": returned, "mismatches": []}
    mismatches = verdict["mismatches"]
    model_name = model or "the configured model"
    if len(set(data)) > 1:
        mismatches.append("the stored data disagrees with itself (%s): part of it was written or restored with "
                          "another model; re-embed it or restore a consistent backup" % ", ".join(
                              "%s %d" % (s["source"], s["dims"]) for s in sources if s["role"] == "data" and s["dims"]))
    if probed and known and set(probed) != set(known):
        mismatches.append("%s is known to return %d dims but the live embedder returns %d: the endpoint serves "
                          "another model or variant than the inventory names" % (model_name, known[0], probed[0]))
    target = returned[0] if returned else (configured[0] if configured else None)
    stored = data[0] if data else None
    if stored is not None and target is not None and set(data) != {target}:
        if stored == target:
            stored = [d for d in data if d != target][0]
        what = ("the embedder returns %d" % target) if returned else ("mem0 is configured for %d" % target)
        if memories == 0:
            mismatches.append("the stored data is %d-dim but %s, and the collection holds no memories: drop the empty "
                              "table and let mem0 create it again as vector(%d) (with embedding_model_dims %d)"
                              % (stored, what, target, target))
        else:
            count = "the %d memories" % memories if memories is not None else "the memories"
            text = ("the stored data is %d-dim but %s: every search and insert will fail. Either run the model the data "
                    "was embedded with (%s) or re-embed %s with %s (%d)"
                    % (stored, what, data_model_hint(stored), count, model_name, target))
            others = models_with_dims(stored)[1:]
            if others:
                text += ". Other known %d-dim models: %s" % (stored, ", ".join(others))
            mismatches.append(text)
    if configured and returned and configured[0] not in returned:
        mismatches.append("embedder_dims (mem0's embedding_model_dims) is %d but %s really returns %d (%s): set "
                          "embedding_model_dims to %d; mem0 uses it to create its collection, so a new or reset "
                          "collection would be vector(%d) and reject every insert"
                          % (configured[0], model_name, returned[0], "live probe" if probed else "known dimension",
                             returned[0], configured[0]))
    if not verdict["agree"] and not mismatches:
        mismatches.append("the sources disagree")
    return verdict


def mismatch_message(sources: list, mismatches: list) -> str:
    listed = "; ".join("%s: %s" % (s["source"], s["dims"]) for s in sources if s["dims"])
    return "embedding dimensions disagree (%s). %s" % (listed, " ".join("Mismatch: %s." % m for m in mismatches))


def manifest_sources(doc, where: str) -> list:
    """The dimensions a manifest records, as data sources named by their key path; ``where`` is the detail."""
    return [source("manifest %s" % key, "data", value, where) for key, dims in manifest_dims(doc) for value in dims]


def embedder_sources(provider, model, configured, default: bool = False) -> tuple:
    """(sources, problems) of the configured embedder: the dimension ``model`` returns (role model) and the
    configured one (role config). ``default`` says the model is mem0's default for ``provider``."""
    sources, problems = [], []
    if model:
        dims = returned_dims(provider, model, configured)
        native = known_dims(model)
        detail = "known dimension"
        if dims is not None and dims != native:
            detail = "%s asks %s for %d of its %d dims" % (provider, normalise_model(model), dims, native)
        if default:
            detail += "; mem0's default model for %s" % provider
        sources.append(source("model %s" % model, "model", dims, detail))
        if dims is None:
            problems.append("model %s is not known: its dimension is only checked by a live probe" % model)
    if configured is not None:
        sources.append(source("configured embedder_dims", "config", configured, "mem0's embedding_model_dims"))
    return sources, problems


def manifest_verdict(doc, where: str, provider, model, configured) -> dict:
    """What embedding_dim_check says of one part manifest against the configured embedder, as restore.yml runs it
    (manifest, embedder_provider, embedder_model, embedder_dims, report_only): the judge's verdict; a verdict with
    ``mismatches`` is one restore refuses without restore_force_dims."""
    model = model or default_model(provider)
    sources = manifest_sources(doc, where) + embedder_sources(provider, model, configured)[0]
    return judge(sources, None, model)

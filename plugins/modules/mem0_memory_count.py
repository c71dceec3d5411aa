#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_memory_count
short_description: Count mem0 memories per namespace and compare them with a baseline
version_added: 0.1.0
description:
  - Counts the memories of a self-hosted mem0 in its PostgreSQL (pgvector) collection, in total and per
    namespace (the C(user_id) of each memory's payload), optionally only the namespaces under a prefix.
  - mem0's C(mem0migrations) table holds a telemetry row, not a memory, and is never counted.
  - Optionally asks the mem0 REST API and the Neo4j graph for the same namespaces and reports where they disagree
    with PostgreSQL.
  - Compares the counts with a baseline (a number, the result of an earlier run, or a backup manifest) and returns
    the drop and a RV(level) of V(ok), V(warning) or V(critical).
  - Optionally writes the counts as a Prometheus textfile (for node_exporter's textfile collector) with the metric
    names C(mem0_memories), C(mem0_namespace_memories{namespace}), C(mem0_memory_drop_ratio) and C(mem0_database_up)
    (the monitoring role's recording rules keep the old names C(mem0_memory_total), C(mem0_memory_count) and
    C(mem0_memory_drop_percentage)), and as a JSON state file that the next run can use as its baseline.
  - This module only reads the stack. It never reports changed, also when it writes O(prometheus_textfile) or
    O(result_file); those files are the module's own bookkeeping, not state it manages. It writes neither in
    check mode.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.postgres
  - mem0ops.stack.postgres.connect_via
  - mem0ops.stack.postgres.collection
  - mem0ops.stack.neo4j
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.read_only
options:
  namespace_prefix:
    description:
      - Count only the memories whose C(user_id) starts with this string, for example C(mark_carey/).
      - The prefix is compared literally (C(_) and C(%) are not wildcards).
      - It applies to every source and to a baseline that has per-namespace counts.
    type: str
  fail_on_unreachable:
    description:
      - When V(true), fail when PostgreSQL, or a source requested with O(mem0_api) or O(neo4j), cannot be reached,
        with a message that says what to check. O(prometheus_textfile) is written first, so that an exporter never
        keeps showing a database that went down as up.
      - When V(false), return instead, with RV(database_up=false) and RV(level=critical) when PostgreSQL is
        down, or with the unreachable source listed in RV(problems); for exporters and health checks.
    type: bool
    default: true
  mem0_api:
    description:
      - Also count the memories through the mem0 REST API (C(GET /memories?user_id=...&top_k=...)) and compare
        them with PostgreSQL.
      - The upstream server returns at most 1000 memories per request; a namespace with more is reported as
        truncated, and agrees when PostgreSQL holds at least that many.
    type: dict
    suboptions:
      url:
        description:
          - Base URL of the mem0 API server, for example C(http://127.0.0.1:8888).
        type: str
        required: true
      api_key:
        description:
          - "Sent as C(Authorization: Bearer <api_key>). Never logged nor returned."
        type: str
      user_ids:
        description:
          - Namespaces to ask for.
          - When omitted, the namespaces found in PostgreSQL.
        type: list
        elements: str
      top_k:
        description:
          - The C(top_k) of each request (upstream mem0 accepts 1 to 1000).
        type: int
        default: 1000
      timeout:
        description:
          - Seconds to wait for each answer.
        type: int
        default: 30
      validate_certs:
        description:
          - Verify the server's TLS certificate when O(mem0_api.url) is HTTPS.
        type: bool
        default: true
  neo4j:
    description:
      - Also count the graph nodes per C(user_id) in Neo4j (mem0's graph memory), connecting with the
        C(neo4j_*) options.
      - Nodes are entities, not memories, so their numbers differ from the memory counts. The sources disagree
        when a namespace has memories but no nodes, or nodes but no memories.
    type: bool
    default: false
  baseline:
    description:
      - What to compare the counts with. One of
      - a number, the total memories expected;
      - the path of a JSON file written by O(result_file), or holding a result registered from this module
        (top-level C(total) and C(per_namespace));
      - the path of a backup manifest (C(mem0ops.manifest/1)) or of the directory that holds its
        C(manifest.json), with C(counts.memories.total) and C(counts.memories.namespaces) (as written by
        M(mem0ops.stack.pgvector_dump));
      - a dictionary, for example a result registered from this module or a manifest already read.
      - In a file or a dictionary the counts are looked for, in this order, under C(counts.memories),
        C(postgres.memories), C(memories) and the top level, as C(total) and C(per_namespace) (or C(namespaces));
        C(memories) may also be a mapping of namespace to count.
      - Counts per namespace may be a mapping of namespace to count, or a list of items with C(namespace)
        (or C(user_id)) and C(count) (or C(memories)). A namespace C("") holds the memories without a C(user_id).
      - A manifest marked C(quarantined) is refused, since a backup that failed its own validation is no baseline.
      - When the path is the same as O(result_file) and the file does not exist yet (the first run), there is no
        baseline; any other missing file fails.
    type: raw
  warn_drop_percent:
    description:
      - RV(level) becomes V(warning) when the total, or a namespace, dropped by more than this percentage
        from the baseline.
    type: float
    default: 50
  result_file:
    description:
      - Write the counts to this JSON file (atomically, mode 0600), to be given as O(baseline) to a later run.
      - Written only when PostgreSQL answered, and by default only when RV(level=ok), so that it keeps the last
        good counts until someone looks at a drop; see O(result_file_when).
      - Not written in check mode.
    type: path
  result_file_when:
    description:
      - V(ok) writes O(result_file) only when RV(level=ok); a drop then stays visible on every run until the
        file is refreshed by hand or the counts recover.
      - V(always) writes it after every run that reached PostgreSQL, so the next run compares with this one.
    type: str
    choices: [ok, always]
    default: ok
  prometheus_textfile:
    description:
      - Write the metrics to this file (atomically, mode 0644), for node_exporter's textfile collector (name it
        C(*.prom)).
      - C(mem0_database_up) is always written. When PostgreSQL is down the memory metrics are left out rather
        than reported as 0; C(mem0_memory_drop_ratio) is left out when there is no baseline.
      - C(mem0_memory_drop_ratio) is a ratio (0.5 for a 50% drop, negative when it grew).
      - Every metric is a gauge, named by Prometheus' conventions and written through the collection's one
        formatter (C(module_utils/prometheus.py), as M(mem0ops.stack.mem0_metrics_textfile)).
      - Not written in check mode.
    type: path
notes:
  - RV(level) is V(critical) when PostgreSQL cannot be reached, when there are no memories at all (also without
    a baseline, and also when the table is missing), or when a namespace of the baseline has no memories left;
    V(warning) when the total or a namespace dropped by more than O(warn_drop_percent), when the sources
    disagree, or when a requested source could not be read; V(ok) otherwise.
  - "Performance: the counts are one C(GROUP BY payload->>'user_id'), a sequential scan. pgvector keeps 768-dim
    vectors out of line, so the scan reads only the rows' small heap part (340 MB for a million memories). On the lab
    (PostgreSQL 17, 2 cores) a million mem0-shaped memories cost about 0.45 s of CPU, 0.35 to 0.8 s of wall time on a
    quiet machine."
  - "For larger collections, C(CREATE STATISTICS mem0_user_id_stats ON ((payload->>'user_id')) FROM memories) and
    C(ANALYZE memories) tell the planner how few namespaces there are, so it counts in parallel; no index is needed
    (PostgreSQL cannot answer this count from an expression index alone)."
seealso:
  - module: mem0ops.stack.embedding_dim_check
  - module: mem0ops.stack.pgvector_dump
"""

EXAMPLES = r"""
- name: Count and compare the memories, the connection to PostgreSQL (inside its container) given once
  module_defaults:
    mem0ops.stack.mem0_memory_count:
      connect_via: docker_exec
      container: "{{ mem0_stack.services.postgres.container }}"
      docker_host: "{{ mem0_stack.docker_host }}"
      login_port: "{{ mem0_stack.services.postgres.container_port }}"
      login_user: "{{ mem0_stack.services.postgres.user }}"
      login_password: "{{ mem0_stack.services.postgres.password }}"
      db: "{{ mem0_stack.services.postgres.database }}"
  block:
    - name: Count the memories of the stack
      mem0ops.stack.mem0_memory_count:
        collection: "{{ mem0_stack.mem0.collection }}"
        namespace_prefix: "{{ mem0_stack.mem0.namespace_prefix }}"
      register: memories

    - name: Before a backup, compare with the last backup's manifest and stop on a large drop
      mem0ops.stack.mem0_memory_count:
        baseline: "{{ mem0_stack.backup_root }}/daily/20260103_133102"
      register: memories
      failed_when: memories.level != 'ok'

    - name: Every few minutes, from cron, write metrics for node_exporter and keep the last good counts as the baseline
      mem0ops.stack.mem0_memory_count:
        fail_on_unreachable: false
        baseline: /var/lib/mem0ops/memory_count.json
        result_file: /var/lib/mem0ops/memory_count.json
        prometheus_textfile: /var/lib/node_exporter/textfile/mem0.prom

    - name: Check that the mem0 API and the graph see the same namespaces as PostgreSQL
      mem0ops.stack.mem0_memory_count:
        mem0_api:
          url: "http://{{ mem0_stack.services.mem0.host }}:{{ mem0_stack.services.mem0.port }}"
          api_key: "{{ mem0_stack.services.mem0.api_key }}"
        neo4j: true
        neo4j_uri: "bolt://{{ mem0_stack.services.neo4j.host }}:{{ mem0_stack.services.neo4j.bolt_port }}"
        neo4j_user: "{{ mem0_stack.services.neo4j.user }}"
        neo4j_password: "{{ mem0_stack.services.neo4j.password }}"
      register: memories
      failed_when: not memories.agree
"""

RETURN = r"""
database_up:
  description: Whether PostgreSQL answered.
  returned: always
  type: bool
  sample: true
table_exists:
  description: Whether the O(collection) table exists (V(false) also when the database is down).
  returned: always
  type: bool
  sample: true
collection:
  description: The table that was counted.
  returned: always
  type: str
  sample: memories
namespace_prefix:
  description: The O(namespace_prefix) applied, or V(null).
  returned: always
  type: str
  sample: mark_carey/
total:
  description:
    - Memories counted in PostgreSQL (under O(namespace_prefix) when given); V(null) when the database is down.
  returned: always
  type: int
  sample: 1968
per_namespace:
  description: Memories per C(user_id).
  returned: always
  type: dict
  sample: {"mark_carey/booking": 33, "mark_carey/personal": 14, "mark_carey/sap": 678, "mark_carey/synovia": 1243}
unscoped:
  description:
    - Memories without a C(user_id) (kept under an C(agent_id) or C(run_id) only). They are part of RV(total)
      when no O(namespace_prefix) is given.
  returned: always
  type: int
  sample: 0
count_seconds:
  description: Time the PostgreSQL count took.
  returned: always
  type: float
  sample: 0.012
baseline:
  description: The baseline compared with, or V(null).
  returned: always
  type: dict
  contains:
    source:
      description: Where the baseline came from (V(number), V(dict), or the file's path).
      type: str
      sample: /var/lib/mem0ops-lab/backups/daily/20260103_133102/manifest.json
    total:
      description: Baseline total (over the namespaces under O(namespace_prefix) when it has per-namespace counts).
      type: int
      sample: 1968
    per_namespace:
      description: Baseline counts per namespace, or V(null) when it has only a total.
      type: dict
      sample: {"mark_carey/sap": 678}
drop_percent:
  description:
    - How much the total dropped from the baseline, in percent (negative when it grew); V(null) without a
      baseline or when the database is down.
  returned: always
  type: float
  sample: 100.0
namespace_drop_percent:
  description: The drop in percent of each namespace of the baseline.
  returned: always
  type: dict
  sample: {"mark_carey/sap": 100.0}
vanished_namespaces:
  description: Namespaces of the baseline that have no memories left.
  returned: always
  type: list
  elements: str
  sample: ["mark_carey/booking"]
new_namespaces:
  description: Namespaces that are not in the baseline.
  returned: always
  type: list
  elements: str
  sample: []
level:
  description: V(ok), V(warning) or V(critical); see the notes.
  returned: always
  type: str
  sample: ok
problems:
  description: Why RV(level) is not V(ok), and anything else worth knowing, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["there are no memories in table memories: the database is empty, or mem0 writes to another one"]
sources:
  description: What each source said.
  returned: always
  type: dict
  contains:
    mem0_api:
      description: Counts through the API (with O(mem0_api)).
      type: dict
      returned: when O(mem0_api) is given
      sample: {"per_namespace": {"mark_carey/synovia": 1000}, "truncated": ["mark_carey/synovia"], "top_k": 1000}
    neo4j:
      description: Graph nodes per C(user_id) (with O(neo4j=true)).
      type: dict
      returned: when O(neo4j=true)
      sample: {"per_user_id": {"mark_carey/sap": 24}}
agree:
  description: Whether every requested source agrees with PostgreSQL (V(true) when no other source was asked).
  returned: always
  type: bool
  sample: true
disagreements:
  description: Where the sources disagree, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["mark_carey/sap: PostgreSQL has 678 memories, the mem0 API returns 0"]
result_file_written:
  description: Whether O(result_file) was written by this run.
  returned: always
  type: bool
  sample: true
prometheus_textfile_written:
  description: Whether O(prometheus_textfile) was written by this run.
  returned: always
  type: bool
  sample: true
metrics:
  description: The Prometheus text written (or that would be written) to O(prometheus_textfile).
  returned: when O(prometheus_textfile) is given
  type: str
  sample: "# HELP mem0_database_up ...\n# TYPE mem0_database_up gauge\nmem0_database_up 1\n"
"""

import json
import math
import os
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.mem0ops.stack.plugins.module_utils import neo4j as neo4j_utils
from ansible_collections.mem0ops.stack.plugins.module_utils import prometheus
from ansible_collections.mem0ops.stack.plugins.module_utils.manifest import (
    MANIFEST_FORMAT,
    STATUS_QUARANTINED,
    ManifestError,
    load_json,
    manifest_path,
    read_manifest,
    utc_now,
    write_json_atomic,
)
from ansible_collections.mem0ops.stack.plugins.module_utils.mem0_data import (
    MIGRATIONS_TABLE,
    collection_argument_spec,
    collection_present,
    namespace_counts,
    under_prefix,
)
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import (
    POSTGRES_REQUIRED_IF,
    PostgresClient,
    PostgresError,
    ensure_required_libs,
    postgres_argument_spec,
    require_login,
)

RESULT_FORMAT = "mem0ops.memory_count/1"
LEVELS = ("ok", "warning", "critical")


class BaselineError(Exception):
    """A baseline that cannot be read or holds no counts."""


class SourceError(Exception):
    """A source other than PostgreSQL that cannot be read."""


def worse(level: str, other: str) -> str:
    return max(level, other, key=LEVELS.index)


def percent_drop(before, now):
    """Drop from before to now in percent (negative when it grew); None without a usable before."""
    if before is None or now is None:
        return None
    if before == 0:
        return 0.0
    return round((before - now) * 100.0 / before, 2)


# --- baseline --------------------------------------------------------------------------------
def _count(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
        raise BaselineError("%s is not a count: %r" % (what, value))
    return int(value)


def _per_namespace(value, what):
    if isinstance(value, dict):
        return dict((str(k), _count(v, "%s[%s]" % (what, k))) for k, v in value.items())
    if isinstance(value, list):
        out = {}
        for item in value:
            if not isinstance(item, dict):
                raise BaselineError("%s holds %r, not an item with a namespace and a count" % (what, item))
            name = item.get("namespace", item.get("user_id"))
            count = item.get("count", item.get("memories"))
            if name is None or count is None:
                raise BaselineError("%s holds %r, not an item with a namespace and a count" % (what, item))
            out[str(name)] = _count(count, "%s[%s]" % (what, name))
        return out
    raise BaselineError("%s is neither a mapping of namespace to count nor a list" % what)


def _node(doc: dict, path: str):
    for key in path.split("."):
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


COUNT_NODES = ("counts.memories", "postgres.memories", "memories", "")


def _is_count_mapping(node: dict) -> bool:
    return bool(node) and "total" not in node and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in node.values())


def counts_from_document(doc: dict):
    """(total, per_namespace or None, unscoped) from the first documented shape the document has."""
    for where in COUNT_NODES:
        node = _node(doc, where) if where else doc
        if not isinstance(node, dict):
            continue
        prefix = where + "." if where else ""
        if where == "memories" and _is_count_mapping(node):
            mapping, total, what = node, None, "memories"
        else:
            key = "per_namespace" if "per_namespace" in node else "namespaces"
            mapping, total, what = node.get(key), node.get("total"), prefix + key
            if total is None and mapping is None:
                continue
        per_namespace = _per_namespace(mapping, what) if mapping is not None else None
        unscoped = per_namespace.pop("", 0) if per_namespace is not None else 0
        total = _count(total, prefix + "total") if total is not None else sum(per_namespace.values()) + unscoped
        return total, per_namespace, unscoped
    raise BaselineError("it holds no memory counts (looked for total and per_namespace or namespaces under "
                        "counts.memories, postgres.memories, memories and the top level, and for memories as a "
                        "mapping of namespace to count)")


def read_baseline_file(path: str) -> dict:
    path = manifest_path(path)
    doc = load_json(path, BaselineError, missing="there is no file %s")
    if not isinstance(doc, dict):
        raise BaselineError("%s does not hold a JSON object" % path)
    if doc.get("format") == MANIFEST_FORMAT:
        try:
            doc = read_manifest(path)
        except ManifestError as exc:
            raise BaselineError(str(exc))
        if doc.get("status") == STATUS_QUARANTINED:
            raise BaselineError("the backup manifest %s is quarantined (%s): a backup that failed its own validation "
                                "is no baseline; pick the last valid one"
                                % (path, "; ".join(doc.get("problems") or []) or "no reason recorded"))
    elif doc.get("database_up") is False:
        raise BaselineError("%s was written while the database was down and holds no counts" % path)
    return doc


def parse_baseline(value, result_file=None):
    """The baseline as {source, total, per_namespace}; None when there is none (yet)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BaselineError("a boolean is not a baseline")
    if isinstance(value, (int, float)):
        return {"source": "number", "total": _count(value, "baseline"), "per_namespace": None}
    if isinstance(value, dict):
        total, per_namespace, dummy = counts_from_document(value)
        return {"source": "dict", "total": total, "per_namespace": per_namespace}
    if isinstance(value, str):
        text = value.strip()
        try:
            return {"source": "number", "total": _count(float(text), "baseline"), "per_namespace": None}
        except ValueError:
            pass
        path = text
        if result_file and not os.path.exists(path) and os.path.abspath(path) == os.path.abspath(result_file):
            return None
        doc = read_baseline_file(path)
        try:
            total, per_namespace, dummy = counts_from_document(doc)
        except BaselineError as exc:
            raise BaselineError("%s: %s" % (manifest_path(path), exc))
        return {"source": manifest_path(path), "total": total, "per_namespace": per_namespace}
    raise BaselineError("%r is neither a number, a path nor a dictionary" % (value,))


def scope_baseline(baseline, prefix):
    """Keep the baseline's namespaces under the prefix, and recompute its total from them."""
    if baseline is None or not prefix or baseline["per_namespace"] is None:
        return baseline
    kept = under_prefix(baseline["per_namespace"], prefix)
    return dict(baseline, per_namespace=kept, total=sum(kept.values()))


# --- judgement -------------------------------------------------------------------------------
def compare(total, per_namespace, baseline, warn_drop_percent):
    """Drops against the baseline, and the level and problems they mean."""
    out = {"drop_percent": None, "namespace_drop_percent": {}, "vanished_namespaces": [], "new_namespaces": [],
           "level": "ok", "problems": []}
    if total is None:
        return out
    if total == 0:
        out["level"] = "critical"
    if baseline is None:
        return out
    out["drop_percent"] = percent_drop(baseline["total"], total)
    if out["drop_percent"] > warn_drop_percent:
        out["level"] = worse(out["level"], "warning")
        out["problems"].append("the memories dropped by %s%% from the baseline (%d -> %d), more than %s%%"
                               % (out["drop_percent"], baseline["total"], total, warn_drop_percent))
    if baseline["per_namespace"] is not None:
        for name, before in sorted(baseline["per_namespace"].items()):
            now = per_namespace.get(name, 0)
            drop = percent_drop(before, now)
            out["namespace_drop_percent"][name] = drop
            if before > 0 and now == 0:
                out["vanished_namespaces"].append(name)
            elif drop > warn_drop_percent:
                out["level"] = worse(out["level"], "warning")
                out["problems"].append("namespace %s dropped by %s%% (%d -> %d), more than %s%%"
                                       % (name, drop, before, now, warn_drop_percent))
        if out["vanished_namespaces"]:
            out["level"] = "critical"
            out["problems"].append("namespaces of the baseline have no memories left: %s"
                                   % ", ".join(out["vanished_namespaces"]))
        out["new_namespaces"] = sorted(set(per_namespace) - set(baseline["per_namespace"]))
    return out


def api_disagreements(pg_counts, api_counts, top_k):
    """Namespaces where the API's count does not fit PostgreSQL's; and those the API truncated."""
    disagreements, truncated = [], []
    for name in sorted(api_counts):
        api, pg = api_counts[name], pg_counts.get(name, 0)
        if api == pg:
            continue
        if api == top_k and pg >= top_k:
            truncated.append(name)
            continue
        disagreements.append("%s: PostgreSQL has %d memories, the mem0 API returns %d" % (name, pg, api))
    return disagreements, truncated


def graph_disagreements(pg_counts, graph_counts):
    disagreements = []
    for name in sorted(set(pg_counts) | set(graph_counts)):
        memories, nodes = pg_counts.get(name, 0), graph_counts.get(name, 0)
        if memories and not nodes:
            disagreements.append("%s: PostgreSQL has %d memories, Neo4j has no nodes for it" % (name, memories))
        elif nodes and not memories:
            disagreements.append("%s: Neo4j has %d nodes, PostgreSQL has no memories for it" % (name, nodes))
    return disagreements


# --- Prometheus ------------------------------------------------------------------------------
def prometheus_families(database_up, total, per_namespace, drop_percent) -> list:
    """The metric families of the count textfile (named by Prometheus' conventions; the recording rules of the
    monitoring role keep the old names mem0_memory_total, mem0_memory_count and mem0_memory_drop_percentage)."""
    families = [{"name": "mem0_database_up", "help": "Whether the mem0 PostgreSQL database answered (1) or not (0).",
                 "value": bool(database_up)}]
    if database_up:
        families += [
            {"name": "mem0_memories", "help": "Memories in the mem0 collection (mem0migrations excluded).",
             "value": int(total)},
            {"name": "mem0_namespace_memories", "help": "Memories per namespace (the user_id of each memory).",
             "samples": [{"labels": {"namespace": name}, "value": int(count)}
                         for name, count in sorted(per_namespace.items())]},
        ]
        if drop_percent is not None:
            families.append({"name": "mem0_memory_drop_ratio",
                             "help": "Drop of mem0_memories from the baseline as a ratio (0.5 = 50%, negative when it grew).",
                             "value": round(drop_percent / 100.0, 6)})
    return families


def prometheus_text(database_up, total, per_namespace, drop_percent) -> str:
    return prometheus.render(prometheus_families(database_up, total, per_namespace, drop_percent))


# --- other sources ---------------------------------------------------------------------------
def api_count(api: dict, user_id: str) -> int:
    query = urlencode({"user_id": user_id, "top_k": api["top_k"]}, quote_via=quote)
    url = "%s/memories?%s" % (api["url"].rstrip("/"), query)
    headers = {"Accept": "application/json"}
    if api.get("api_key"):
        headers["Authorization"] = "Bearer %s" % api["api_key"]
    try:
        response = open_url(url, method="GET", headers=headers, timeout=api["timeout"],
                            validate_certs=api["validate_certs"])
        body = json.loads(response.read() or b"null")
    except HTTPError as exc:
        if exc.code in (401, 403):
            raise SourceError("the mem0 API at %s refused the API key (HTTP %s): compare mem0_api.api_key with the "
                              "server's MEM0_API_KEY" % (api["url"], exc.code))
        raise SourceError("the mem0 API at %s answered HTTP %s for user_id %s" % (api["url"], exc.code, user_id))
    except (URLError, OSError, UrlConnectionError) as exc:
        raise SourceError("cannot reach the mem0 API at %s: %s; is the mem0 server running and is the port right?"
                          % (api["url"], getattr(exc, "reason", exc)))
    except ValueError as exc:
        raise SourceError("the mem0 API at %s did not answer JSON: %s" % (api["url"], exc))
    results = body.get("results") if isinstance(body, dict) else body
    if not isinstance(results, list):
        raise SourceError("the mem0 API at %s answered with something else than a list of memories" % api["url"])
    return len(results)


def graph_node_counts(params: dict, prefix) -> dict:
    """Graph nodes per user_id (under the prefix)."""
    try:
        driver = neo4j_utils.connect(params)
    except neo4j_utils.Neo4jError as exc:
        raise SourceError(str(exc))
    try:
        counts = neo4j_utils.nodes_per_user_id(driver, params["neo4j_database"])
    except Exception as exc:  # the driver's errors, explained like a connection failure
        raise SourceError(neo4j_utils.explain_error(params, exc))
    finally:
        driver.close()
    return under_prefix(counts, prefix)


class MemoryCounter:
    """Counts once, judges, writes the bookkeeping files; ``results`` is what the module returns."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.prefix = self.params["namespace_prefix"] or None
        self.unreachable = []
        self.results = {
            "changed": False, "database_up": False, "table_exists": False, "collection": self.params["collection"],
            "namespace_prefix": self.prefix, "total": None, "per_namespace": {}, "unscoped": 0,
            "count_seconds": 0.0, "baseline": None, "drop_percent": None, "namespace_drop_percent": {},
            "vanished_namespaces": [], "new_namespaces": [], "level": "ok", "problems": [], "sources": {},
            "agree": True, "disagreements": [], "result_file_written": False, "prometheus_textfile_written": False,
        }

    def fail(self, msg: str) -> None:
        self.module.fail_json(msg=msg, **self.results)

    def source_failed(self, msg: str) -> None:
        """A source that cannot be read: reported, and after the metrics are written, failed by default."""
        self.unreachable.append(msg)
        self.results["problems"].append(msg)
        self.results["level"] = worse(self.results["level"], "warning")

    # --- PostgreSQL --------------------------------------------------------------------------
    def count_postgres(self) -> None:
        client = PostgresClient(self.params)
        try:
            try:
                client.connect()
            except PostgresError as exc:
                self.source_failed(str(exc))
                return
            self.results["database_up"] = True
            self.count_rows(client)
        except PostgresError as exc:
            self.fail(str(exc))
        finally:
            client.close()

    def count_rows(self, client: PostgresClient) -> None:
        table = self.params["collection"]
        if not collection_present(client.query, table):
            self.results.update(total=0)
            self.results["problems"].append(
                "table %s does not exist in database %s: mem0 has not created its collection there, or the server "
                "points at another database (the January incident); counted as 0 memories" % (table, self.params["db"]))
            return
        self.results["table_exists"] = True
        started = time.monotonic()
        counts = namespace_counts(client.query, table, self.prefix)
        self.results["count_seconds"] = round(time.monotonic() - started, 3)
        unscoped = counts.pop(None, 0)
        per_namespace = counts
        self.results.update(per_namespace=per_namespace, unscoped=unscoped,
                            total=sum(per_namespace.values()) + unscoped)

    # --- the other sources -------------------------------------------------------------------
    def count_api(self) -> None:
        api = self.params["mem0_api"]
        user_ids = api["user_ids"] if api["user_ids"] is not None else sorted(self.results["per_namespace"])
        if self.prefix:
            user_ids = [u for u in user_ids if u.startswith(self.prefix)]
        counts = {}
        try:
            for user_id in user_ids:
                counts[user_id] = api_count(api, user_id)
        except SourceError as exc:
            self.source_failed(str(exc))
            return
        if not self.results["database_up"]:
            self.results["sources"]["mem0_api"] = {"per_namespace": counts, "truncated": [], "top_k": api["top_k"]}
            return
        disagreements, truncated = api_disagreements(self.results["per_namespace"], counts, api["top_k"])
        self.results["sources"]["mem0_api"] = {"per_namespace": counts, "truncated": truncated, "top_k": api["top_k"]}
        self.results["disagreements"] += disagreements

    def count_graph(self) -> None:
        neo4j_utils.ensure_required_libs(self.module)
        try:
            counts = graph_node_counts(self.params, self.prefix)
        except SourceError as exc:
            self.source_failed(str(exc))
            return
        self.results["sources"]["neo4j"] = {"per_user_id": counts}
        if self.results["database_up"]:
            self.results["disagreements"] += graph_disagreements(self.results["per_namespace"], counts)

    # --- judgement and bookkeeping -----------------------------------------------------------
    def judge(self, baseline) -> None:
        results = self.results
        if not results["database_up"]:
            results["level"] = "critical"
            return
        verdict = compare(results["total"], results["per_namespace"], baseline, self.params["warn_drop_percent"])
        results["problems"] += verdict.pop("problems")
        level = verdict.pop("level")
        results.update(verdict)
        results["level"] = worse(results["level"], level)
        if results["total"] == 0:
            scope = " under %s" % self.prefix if self.prefix else ""
            results["problems"].append("there are no memories in table %s%s: the database is empty, or mem0 writes to "
                                       "another one" % (self.params["collection"], scope))
        if results["disagreements"]:
            results["agree"] = False
            results["level"] = worse(results["level"], "warning")
            results["problems"].append("the sources disagree: %s" % "; ".join(results["disagreements"]))

    def result_document(self) -> dict:
        keys = ("collection", "namespace_prefix", "total", "per_namespace", "unscoped", "level", "drop_percent")
        doc = dict((k, self.results[k]) for k in keys)
        doc.update(format=RESULT_FORMAT, created_at=utc_now(), database=self.params["db"], database_up=True)
        return doc

    def write_files(self) -> None:
        results = self.results
        textfile = self.params["prometheus_textfile"]
        if textfile:
            families = prometheus_families(results["database_up"], results["total"], results["per_namespace"],
                                           results["drop_percent"])
            results["metrics"] = prometheus.render(families)
            if not self.check_mode:
                try:
                    prometheus.write_textfile(textfile, families)
                except OSError as exc:
                    self.fail("cannot write the Prometheus textfile %s: %s" % (textfile, exc))
                results["prometheus_textfile_written"] = True
        result_file = self.params["result_file"]
        wanted = results["database_up"] and (self.params["result_file_when"] == "always" or results["level"] == "ok")
        if result_file and wanted and not self.check_mode:
            try:
                write_json_atomic(result_file, self.result_document())
            except OSError as exc:
                self.fail("cannot write the result file %s: %s" % (result_file, exc))
            results["result_file_written"] = True

    def run(self) -> dict:
        if self.params["collection"] == MIGRATIONS_TABLE:
            self.fail("%s is mem0's telemetry table, not a memory collection: set collection to the vector store's "
                      "collection_name (memories by default)" % MIGRATIONS_TABLE)
        try:
            baseline = scope_baseline(parse_baseline(self.params["baseline"], self.params["result_file"]), self.prefix)
        except BaselineError as exc:
            self.fail("cannot use the baseline: %s" % exc)
        self.results["baseline"] = baseline
        self.count_postgres()
        if self.params["mem0_api"]:
            self.count_api()
        if self.params["neo4j"]:
            self.count_graph()
        self.judge(baseline)
        self.write_files()
        if self.unreachable and self.params["fail_on_unreachable"]:
            self.fail("; ".join(self.unreachable))
        self.results["msg"] = self.summary()
        return self.results

    def summary(self) -> str:
        results = self.results
        if not results["database_up"]:
            return "critical: PostgreSQL is unreachable"
        text = "%s: %s memories in %s namespaces" % (results["level"], results["total"], len(results["per_namespace"]))
        if results["drop_percent"] is not None:
            text += ", %s%% drop from the baseline of %s" % (results["drop_percent"], results["baseline"]["total"])
        return text


def argument_spec() -> dict:
    spec = postgres_argument_spec()
    spec.update(collection_argument_spec())
    spec.update(neo4j_utils.neo4j_argument_spec())
    spec.update(
        namespace_prefix=dict(type="str"),
        fail_on_unreachable=dict(type="bool", default=True),
        mem0_api=dict(type="dict", options=dict(
            url=dict(type="str", required=True),
            api_key=dict(type="str", no_log=True),
            user_ids=dict(type="list", elements="str"),
            top_k=dict(type="int", default=1000),
            timeout=dict(type="int", default=30),
            validate_certs=dict(type="bool", default=True),
        )),
        neo4j=dict(type="bool", default=False),
        baseline=dict(type="raw"),
        warn_drop_percent=dict(type="float", default=50),
        result_file=dict(type="path"),
        result_file_when=dict(type="str", default="ok", choices=["ok", "always"]),
        prometheus_textfile=dict(type="path"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), required_if=POSTGRES_REQUIRED_IF, supports_check_mode=True)
    ensure_required_libs(module)
    require_login(module)
    module.exit_json(**MemoryCounter(module).run())


if __name__ == "__main__":
    main()

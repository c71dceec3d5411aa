#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: neo4j_export
short_description: Export the mem0 graph from Neo4j with a verified manifest, or import such an export
version_added: 0.1.0
description:
  - With O(state=exported), exports the whole graph of one Neo4j database over Bolt into O(dest), one file per
    format in O(formats), and writes C(manifest.json) beside them with the sha256 of every file, node counts per
    label and per C(user_id), relationship counts per type, the embedding dimensions observed, the server's version
    and the database's identity.
  - Every file is written under a temporary name, fsynced and renamed, so a half-written export never carries its
    final name. A file whose content is identical to the one already in O(dest) is left alone, so exporting an
    unchanged graph again reports no change.
  - When APOC's export procedures are missing on the server, the formats that need them are replaced by the
    driver-only format C(driver), with a warning.
  - With O(state=imported), loads an export into an empty database. The checksums are verified first, then the
    nodes and relationships of the C(driver) (or APOC C(json)) file are created in batches, the constraints and
    indexes recorded in the manifest are created, and the counts per label, relationship type, C(user_id) and
    embedding dimension are compared with the manifest. Any difference fails the module with the list of them.
  - A database that is not empty is refused unless O(force=true), which first deletes every node and relationship.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.neo4j
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.check_diff_full
attributes:
  idempotent:
    support: partial
    details:
      - O(state=exported) reports no change when O(dest) already holds an export of the same graph with the same
        formats.
      - O(state=imported) refuses a database that is not empty; with O(force=true) it wipes and imports every time.
      - In check mode, O(state=exported) predicts the change from the counts and the files already in O(dest);
        a graph edited without changing any count is predicted as unchanged.
options:
  state:
    description:
      - V(exported) writes an export of the graph to O(dest).
      - V(imported) loads the export in O(src) into the database.
    type: str
    choices: [exported, imported]
    default: exported
  dest:
    description:
      - Directory the export is written to; created with mode C(0700) when missing. Files are written with mode
        C(0600).
      - Required when O(state=exported).
    type: path
  src:
    description:
      - Directory of an export made by this module, or its C(manifest.json).
      - Required when O(state=imported).
    type: path
  formats:
    description:
      - The export formats, one file each.
      - V(driver) is JSON Lines written by this module with the driver only (no APOC), one line per node
        (C(labels), C(properties)) and per relationship (C(label) for its type, C(start), C(end), C(properties)),
        every property included, embeddings too; temporal, spatial and byte-array values are written as objects
        with a C($neo4j) type key. It is the format O(state=imported) prefers.
      - V(cypher) is APOC's C(apoc.export.cypher.all) in its C(plain) format (Cypher statements that
        C(apoc.cypher.runMany) can replay).
      - V(graphml) is APOC's C(apoc.export.graphml.all) with types; V(json) is APOC's C(apoc.export.json.all)
        (JSON Lines).
      - V(driver) and V(cypher) are streamed in batches of O(batch_size); APOC produces V(graphml) and V(json) as
        one string, which the server and this module hold in memory whole.
    type: list
    elements: str
    choices: [cypher, graphml, json, driver]
    default: [driver, cypher]
  compression:
    description:
      - V(gzip) compresses every export file (name suffix C(.gz)); the compressed bytes are reproducible, so an
        unchanged graph still gives identical files.
    type: str
    choices: [none, gzip]
    default: none
  batch_size:
    description:
      - Nodes or relationships per batch when streaming the V(cypher) and V(driver) exports, per transaction when
        importing, and per transaction when O(force=true) wipes the database.
    type: int
    default: 1000
  force:
    description:
      - With O(state=imported), delete every node and relationship of a database that is not empty before importing
        (C(DETACH DELETE) in batches of O(batch_size) nodes). Constraints and indexes are kept.
    type: bool
    default: false
  import_format:
    description:
      - Which file of the export O(state=imported) loads. V(auto) takes V(driver) when the export has it, else V(json).
    type: str
    choices: [auto, driver, json]
    default: auto
  user_id_property:
    description:
      - Node property that names the mem0 user (namespace) a node belongs to, counted per value.
    type: str
    default: user_id
  embedding_property:
    description:
      - Node property that holds the embedding vector; the manifest records the distinct lengths it has.
    type: str
    default: embedding
notes:
  - The export is read in transactions of its own while the database keeps serving; stop the writers (the mem0
    server) for an export that is consistent across files. When a file does not hold the node and relationship
    counts measured before it was written, the export is kept, its manifest marked C(quarantined), and the module
    fails.
  - The import is not atomic. When it stops part-way, the database holds part of the export; run it again with
    O(force=true).
  - Imports of the APOC C(json) file keep temporal values as the strings APOC wrote; the V(driver) format keeps
    their types.
seealso:
  - name: APOC export procedures
    description: The procedures behind the V(cypher), V(graphml) and V(json) formats.
    link: https://neo4j.com/docs/apoc/current/export/
"""

EXAMPLES = r"""
- name: Export the graph next to tonight's PostgreSQL dump
  mem0ops.stack.neo4j_export:
    neo4j_uri: "bolt://{{ mem0_stack.services.neo4j.host }}:{{ mem0_stack.services.neo4j.bolt_port }}"
    neo4j_user: "{{ mem0_stack.services.neo4j.user }}"
    neo4j_password: "{{ mem0_stack.services.neo4j.password }}"
    dest: "{{ mem0_stack.backup_root }}/daily/{{ backup_stamp }}/neo4j"
    formats: [driver, cypher, graphml, json]
    compression: gzip
  register: graph_export

- name: Show what was exported
  ansible.builtin.debug:
    msg: "{{ graph_export.counts.user_ids }} with embeddings of {{ graph_export.embedding_dims }} dims"

- name: See what an export would hold, writing nothing
  mem0ops.stack.neo4j_export:
    neo4j_uri: bolt://127.0.0.1:7688
    neo4j_password: "{{ neo4j_password }}"
    dest: /var/backups/mem0/neo4j
  check_mode: true

- name: Load the export into the restore-drill Neo4j (it must be empty)
  mem0ops.stack.neo4j_export:
    state: imported
    neo4j_uri: bolt://127.0.0.1:17687
    neo4j_password: "{{ drill_neo4j_password }}"
    src: "{{ graph_export.dest }}"

- name: Replace whatever the drill database holds
  mem0ops.stack.neo4j_export:
    state: imported
    neo4j_uri: bolt://127.0.0.1:17687
    neo4j_password: "{{ drill_neo4j_password }}"
    src: "{{ graph_export.manifest_path }}"
    force: true
"""

RETURN = r"""
dest:
  description: The export directory.
  returned: O(state=exported)
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20260103_023000/neo4j
src:
  description: The export directory that was imported.
  returned: O(state=imported)
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20260103_023000/neo4j
manifest_path:
  description: Path of C(manifest.json).
  returned: always
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20260103_023000/neo4j/manifest.json
manifest:
  description:
    - The manifest as written (or as found, when nothing changed; or as read, for O(state=imported)).
    - Absent in check mode for O(state=exported).
  returned: success
  type: dict
  sample:
    format: mem0ops.manifest/1
    kind: neo4j_export
    status: valid
    formats: [driver, cypher]
    compression: none
    counts: {nodes: 70, relationships: 94}
    embedding: {property: embedding, dims: [768], nodes: 70}
formats:
  description: The formats exported, after any replacement of the APOC formats by V(driver).
  returned: O(state=exported)
  type: list
  elements: str
  sample: [driver, cypher]
files:
  description:
    - The export files, with size, sha256, format, the nodes and relationships each holds and the seconds it took.
    - In check mode only the names and formats that would be written.
  returned: O(state=exported)
  type: list
  elements: dict
  sample:
    - {name: neo4j.driver.jsonl, size: 876543, sha256: 9f86d0..., format: driver, nodes: 70, relationships: 94,
       seconds: 0.21}
counts:
  description:
    - Counts of the graph, per label, relationship type, C(user_id) and embedding length.
    - For O(state=exported) the exported graph; for O(state=imported) the database after the import (before it, in
      check mode).
  returned: success
  type: dict
  contains:
    nodes:
      description: Nodes in all.
      type: int
    relationships:
      description: Relationships in all.
      type: int
    labels:
      description: Nodes per label (a node with two labels counts under both).
      type: dict
    relationship_types:
      description: Relationships per type.
      type: dict
    user_ids:
      description: Nodes per value of O(user_id_property).
      type: dict
    nodes_without_user_id:
      description: Nodes without O(user_id_property).
      type: int
    embedding_dims:
      description: Nodes per length of O(embedding_property), keyed by the length as a string.
      type: dict
  sample:
    nodes: 70
    relationships: 94
    labels: {__Entity__: 70}
    relationship_types: {WORKS_ON: 20, USES: 14}
    user_ids: {mark_carey/sap: 24, mark_carey/synovia: 36}
    nodes_without_user_id: 0
    embedding_dims: {"768": 70}
embedding_dims:
  description: The distinct lengths of O(embedding_property) found on nodes.
  returned: O(state=exported)
  type: list
  elements: int
  sample: [768]
expected:
  description: The counts the manifest records, which the imported database must match.
  returned: O(state=imported)
  type: dict
  sample: {nodes: 70, relationships: 94}
server:
  description: Version and edition of Neo4j and the identity (store id) of the database.
  returned: success
  type: dict
  sample: {version: 5.26.19, edition: community, database: neo4j, database_id: 3D20EFC6..., creation_date: "2026-11-22T07:31:17.827Z"}
apoc:
  description: APOC's version (null when absent) and the export and import procedures the server has.
  returned: O(state=exported)
  type: dict
  sample: {version: 5.26.19, procedures: [apoc.export.cypher.all, apoc.export.graphml.all, apoc.export.json.all]}
import_file:
  description: The export file that was (or would be) imported, and its format.
  returned: O(state=imported)
  type: dict
  sample: {name: neo4j.driver.jsonl, format: driver}
wiped:
  description: Nodes deleted before the import (O(force=true)); in check mode the nodes that would be.
  returned: O(state=imported)
  type: int
  sample: 0
schema_created:
  description: Names of the constraints and indexes of the manifest created by the import (those already present are skipped).
  returned: O(state=imported)
  type: list
  elements: str
  sample: [entity_single]
timings:
  description: Seconds each step of the import took (C(wipe) only when something was deleted).
  returned: O(state=imported), not in check mode
  type: dict
  sample: {wipe: 0.21, load: 0.93, schema: 0.0, verify: 0.15}
duration_seconds:
  description: Seconds the export or the import took (for the import, from the connection on).
  returned: success
  type: float
  sample: 0.84
"""

import errno
import gzip
import hashlib
import json
import os
import time
from types import MappingProxyType

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.module_utils.neo4j import (
    HAS_NEO4J,
    Neo4jError,
    apoc_info,
    bolt_address,
    decode_properties,
    delete_all,
    diff_counts,
    driver_from_module,
    encode_properties,
    error_code,
    explain_error,
    graph_counts,
    knows_value_type,
    neo4j_argument_spec,
    offset_utc_keys,
    quote_identifier,
    read,
    schema_statements,
    server_info,
    write,
)

if HAS_NEO4J:
    import neo4j
    import neo4j.exceptions

MANIFEST_KIND = "neo4j_export"
FORMATS = ("cypher", "graphml", "json", "driver")
FILE_NAMES = MappingProxyType({
    "cypher": "neo4j.cypher",
    "graphml": "neo4j.graphml",
    "json": "neo4j.apoc.jsonl",
    "driver": "neo4j.driver.jsonl",
})
APOC_EXPORT = MappingProxyType({
    "cypher": "apoc.export.cypher.all",
    "graphml": "apoc.export.graphml.all",
    "json": "apoc.export.json.all",
})
IMPORTABLE = ("driver", "json")
IMPORT_LABEL = "__Mem0opsImport"
IMPORT_ID = "__mem0ops_import_id"
IMPORT_INDEX = "mem0ops_import_id"
SCHEMA_EXISTS_CODES = (
    "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
    "Neo.ClientError.Schema.IndexAlreadyExists",
    "Neo.ClientError.Schema.ConstraintAlreadyExists",
)


def export_file_name(fmt: str, compression: str) -> str:
    return FILE_NAMES[fmt] + (".gz" if compression == "gzip" else "")


def unique(items) -> list:
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def resolve_formats(requested, procedures) -> tuple:
    """The formats to write given the APOC procedures the server has, and a warning when some had to go."""
    formats = unique(requested)
    missing = [fmt for fmt in formats if fmt in APOC_EXPORT and APOC_EXPORT[fmt] not in procedures]
    if not missing:
        return formats, None
    kept = [fmt for fmt in formats if fmt not in missing]
    if "driver" not in kept:
        kept.append("driver")
    warning = ("the server has no %s (is APOC installed?): the graph is exported with the driver only "
               "(format driver) instead of %s" % (", ".join(APOC_EXPORT[fmt] for fmt in missing), ", ".join(missing)))
    return kept, warning


def node_labels(row: dict) -> tuple:
    return tuple(row["labels"])


def relationship_type(row: dict) -> str:
    return row["type"]


def batched(items, key, size: int):
    """Group items by key(item) (all in one group when key is None); yield (group, items) whenever a group
    holds size items, then what is left of each group."""
    groups = {}
    for item in items:
        group = key(item) if key else None
        rows = groups.setdefault(group, [])
        rows.append(item)
        if len(rows) >= size:
            yield group, groups.pop(group)
    for group, rows in groups.items():
        yield group, rows


def version_tuple(version) -> tuple:
    """'5.26.19' -> (5, 26, 19); calendar versions ('2025.01.0') compare above every 5.x."""
    parts = []
    for part in str(version or "").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def supports_dynamic_tokens(version) -> bool:
    """Whether Cypher takes labels and relationship types from expressions, $(...) (Neo4j 5.26 and later)."""
    return version_tuple(version) >= (5, 26)


def choose_import_file(manifest: dict, import_format: str) -> dict:
    """The manifest entry of the file to import."""
    by_format = {entry.get("format"): entry for entry in manifest.get("files", [])}
    candidates = IMPORTABLE if import_format == "auto" else (import_format,)
    for fmt in candidates:
        if fmt in by_format:
            return by_format[fmt]
    raise Neo4jError("the export holds no %s file (it has: %s): the import reads the driver or the APOC json "
                     "format; export again with formats [driver]"
                     % (" or ".join(candidates), ", ".join(sorted(f for f in by_format if f)) or "no files"))


def same_export(previous, formats, compression, counts, schema) -> bool:
    """Whether a manifest describes an export of these formats with these counts and schema."""
    return bool(previous) and previous.get("status") == mf.STATUS_VALID and previous.get("formats") == formats \
        and previous.get("compression") == compression and previous.get("counts") == counts \
        and previous.get("schema") == schema


def count_problems(entry: dict, counts: dict) -> list:
    """What a written file holds against what the graph held before it was written."""
    problems = []
    for key in ("nodes", "relationships"):
        if entry.get(key) is not None and entry[key] != counts[key]:
            problems.append("%s holds %d %s, the graph had %d: the graph changed during the export"
                            % (entry["name"], entry[key], key, counts[key]))
    return problems


def explain_os_error(action: str, path: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        hint = "free space there or choose another dest; the partial file was removed"
    elif exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        hint = "choose a directory this user (uid %d) can write to, or run the task as one who can" % os.getuid()
    else:
        hint = "check the path"
    return "cannot %s %s: %s; %s" % (action, path, reason, hint)


def json_line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


class _HashingWriter:
    """A binary sink that hashes what it writes on to the file."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()

    def write(self, data):
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self):
        self.raw.flush()


class ExportWriter:
    """A text file written under its temporary name, optionally gzip-compressed, hashed on the way out."""

    def __init__(self, path: str, compression: str):
        self.path = path
        self.raw = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        self.hashing = _HashingWriter(self.raw)
        # mtime=0 and no file name: identical content gives identical bytes.
        self.stream = gzip.GzipFile(filename="", mode="wb", fileobj=self.hashing, mtime=0) \
            if compression == "gzip" else self.hashing

    def write(self, text: str) -> None:
        self.stream.write(text.encode("utf-8"))

    def close(self) -> str:
        """Finish the file; returns its sha256."""
        if self.stream is not self.hashing:
            self.stream.close()
        self.raw.close()
        return self.hashing.digest.hexdigest()

    def abort(self) -> None:
        try:
            self.raw.close()
        except OSError:
            pass


class Neo4jExport:
    """Exports or imports the graph of one database; results are kept in ``results``."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.database = module.params["neo4j_database"]
        self.driver = None
        self.results = dict(changed=False)

    # --- plumbing ------------------------------------------------------------------------------
    def fail(self, msg: str) -> None:
        results = dict(self.results)
        results.pop("msg", None)
        self.module.fail_json(msg=msg, **results)

    def connect(self) -> None:
        self.driver = driver_from_module(self.module)

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None

    def counts(self) -> dict:
        return graph_counts(self.driver, self.database, self.params["user_id_property"],
                            self.params["embedding_property"])

    def run(self) -> None:
        try:
            if self.params["state"] == "exported":
                self.export()
            else:
                self.import_()
        except Neo4jError as exc:
            self.fail(str(exc))
        except mf.ManifestError as exc:
            self.fail(str(exc))
        except OSError as exc:
            self.fail("cannot read or write %s: %s" % (exc.filename or "a file", exc.strerror or exc))
        except Exception as exc:  # pylint: disable=broad-except
            if HAS_NEO4J and isinstance(exc, (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError)):
                self.fail(explain_error(self.params, exc))
            raise
        finally:
            self.close()
        self.module.exit_json(**self.results)

    # --- export --------------------------------------------------------------------------------
    def check_dest(self, dest: str) -> None:
        if os.path.lexists(dest) and not os.path.isdir(dest):
            raise Neo4jError("dest %s exists and is not a directory" % dest)
        existing = dest
        while not os.path.lexists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise Neo4jError("cannot create dest %s: %s is not a directory" % (dest, existing))
        if not os.access(existing, os.W_OK | os.X_OK):
            raise Neo4jError("cannot write to dest %s: %s is not writable by uid %d; choose a directory this user "
                             "can write to, or run the task as one who can" % (dest, existing, os.getuid()))

    def previous_manifest(self, dest: str):
        path = os.path.join(dest, mf.MANIFEST_NAME)
        if not os.path.isfile(path):
            return None
        try:
            previous = mf.read_manifest(path)
        except mf.ManifestError as exc:
            self.module.warn("the manifest already in dest is replaced: %s" % exc)
            return None
        return previous if previous.get("kind") == MANIFEST_KIND else None

    def schema(self) -> list:
        try:
            return schema_statements(self.driver, self.database, exclude_names=(IMPORT_INDEX,))
        except neo4j.exceptions.Neo4jError as exc:
            self.module.warn("the constraints and indexes are not recorded: %s" % explain_error(self.params, exc))
            return []

    def export(self) -> None:
        params = self.params
        dest = params["dest"]
        compression = params["compression"]
        self.results["dest"] = dest
        self.results["manifest_path"] = os.path.join(dest, mf.MANIFEST_NAME)
        self.check_dest(dest)
        self.connect()
        started = time.monotonic()
        apoc = apoc_info(self.driver, self.database)
        formats, warning = resolve_formats(params["formats"], apoc["procedures"])
        if warning:
            self.module.warn(warning)
        counts = self.counts()
        server = server_info(self.driver, self.database)
        schema = self.schema()
        dims = sorted(int(k) for k in counts["embedding_dims"])
        self.results.update(formats=formats, counts=counts, server=server, apoc=apoc, embedding_dims=dims)
        previous = self.previous_manifest(dest)
        names = [export_file_name(fmt, compression) for fmt in formats]
        before = {"counts": previous.get("counts") if previous else None,
                  "files": [entry["name"] for entry in previous.get("files", [])] if previous else []}
        if self.module._diff:
            self.results["diff"] = dict(before=before, after={"counts": counts, "files": names})

        if self.check_mode:
            self.results["files"] = [{"name": name, "format": fmt} for fmt, name in zip(formats, names)]
            unchanged = same_export(previous, formats, compression, counts, schema) \
                and [entry["name"] for entry in previous["files"]] == names \
                and not mf.verify_files(previous, dest)
            self.results["changed"] = not unchanged
            self.results["duration_seconds"] = round(time.monotonic() - started, 3)
            return

        try:
            os.makedirs(dest, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise Neo4jError(explain_os_error("create dest", dest, exc))
        trusted = self.verified_entries(previous, dest)
        entries, changed = [], False
        for fmt, name in zip(formats, names):
            entry, file_changed = self.write_file(fmt, dest, name, trusted)
            entries.append(entry)
            changed = changed or file_changed
        problems = [p for entry in entries for p in count_problems(entry, counts)]
        manifest = None
        if changed or problems or not same_export(previous, formats, compression, counts, schema) \
                or [e["name"] for e in previous["files"]] != names:
            manifest = mf.new_manifest(MANIFEST_KIND)
            manifest.update(
                neo4j=dict(server, uri=bolt_address(params["neo4j_uri"]), apoc_version=apoc["version"]),
                formats=formats, compression=compression, counts=counts, schema=schema,
                user_id_property=params["user_id_property"],
                embedding={"property": params["embedding_property"], "dims": dims,
                           "nodes": sum(counts["embedding_dims"].values())},
                files=entries, duration_seconds=round(time.monotonic() - started, 3))
            if problems:
                manifest.update(status=mf.STATUS_QUARANTINED, problems=problems)
            try:
                mf.write_json_atomic(self.results["manifest_path"], manifest)
            except OSError as exc:
                raise Neo4jError(explain_os_error("write the manifest", self.results["manifest_path"], exc))
            changed = True
        else:
            manifest = previous
        self.results.update(changed=changed, manifest=manifest, files=manifest["files"],
                            duration_seconds=round(time.monotonic() - started, 3))
        if problems:
            self.fail("the export in %s is kept but marked quarantined: %s; export again with the writers (the mem0 "
                      "server) stopped" % (dest, "; ".join(problems)))

    def verified_entries(self, previous, dest: str) -> dict:
        """{name: entry} of the previous manifest's files that are still on disk as it describes them."""
        if not previous:
            return {}
        trusted = {}
        for entry in previous.get("files", []):
            if not mf.verify_files({"files": [entry]}, dest):
                trusted[entry["name"]] = entry
        return trusted

    def write_file(self, fmt: str, dest: str, name: str, trusted: dict) -> tuple:
        """Write one export file; returns its manifest entry and whether the file in dest changed."""
        final = os.path.join(dest, name)
        partial = mf.partial_path(final)
        started = time.monotonic()
        writer = None
        try:
            writer = ExportWriter(partial, self.params["compression"])
            held = self.export_driver(writer) if fmt == "driver" else self.export_apoc(writer, fmt)
            digest = writer.close()
            writer = None
            previous = trusted.get(name)
            if previous is not None and previous["sha256"] == digest:
                os.unlink(partial)
                changed = False
            else:
                mf.commit_file(partial, final)
                changed = True
        except OSError as exc:
            self.discard(writer, partial)
            raise Neo4jError(explain_os_error("write", final, exc))
        except BaseException:
            self.discard(writer, partial)
            raise
        entry = mf.file_entry(final, dest, sha256=digest)
        entry.update(format=fmt, seconds=round(time.monotonic() - started, 3), **held)
        return entry, changed

    @staticmethod
    def discard(writer, partial: str) -> None:
        if writer is not None:
            writer.abort()
        if os.path.lexists(partial):
            os.unlink(partial)

    def export_apoc(self, writer: ExportWriter, fmt: str) -> dict:
        """Stream one APOC export to the file; APOC's last row holds the totals."""
        batch = self.params["batch_size"]
        if fmt == "cypher":
            config = {"stream": True, "format": "plain", "batchSize": batch, "unwindBatchSize": min(20, batch)}
            column = "cypherStatements"
        else:
            config = {"stream": True, "useTypes": True} if fmt == "graphml" else {"stream": True}
            column = "data"
        held = {"nodes": 0, "relationships": 0}
        with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS, fetch_size=1) as session:
            for record in session.run("CALL %s(null, $config)" % APOC_EXPORT[fmt], config=config):
                chunk = record[column]
                if chunk:
                    writer.write(chunk if chunk.endswith("\n") else chunk + "\n")
                held = {"nodes": record["nodes"], "relationships": record["relationships"]}
        return held

    def export_driver(self, writer: ExportWriter) -> dict:
        """Every node, then every relationship, as JSON lines, read in one transaction."""
        held = {"nodes": 0, "relationships": 0}
        # which UTC datetimes are the offset Z and not the zone id UTC (the driver cannot tell; older servers cannot)
        hinted = knows_value_type((self.results.get("server") or {}).get("version"))
        node_hint = (", " + offset_utc_keys("n")) if hinted else ", []"
        rel_hint = (", " + offset_utc_keys("r")) if hinted else ", []"
        with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS,
                                 fetch_size=self.params["batch_size"]) as session:
            with session.begin_transaction() as tx:
                nodes = tx.run("MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS properties"
                               + node_hint + " AS offset_utc")
                for record in nodes:
                    writer.write(json_line({"type": "node", "id": record["id"], "labels": sorted(record["labels"]),
                                            "properties": encode_properties(record["properties"],
                                                                            record["offset_utc"])}))
                    held["nodes"] += 1
                rels = tx.run("MATCH (a)-[r]->(b) RETURN elementId(r) AS id, type(r) AS type, elementId(a) AS start, "
                              "elementId(b) AS end, properties(r) AS properties" + rel_hint + " AS offset_utc")
                for record in rels:
                    writer.write(json_line({"type": "relationship", "id": record["id"], "label": record["type"],
                                            "start": {"id": record["start"]}, "end": {"id": record["end"]},
                                            "properties": encode_properties(record["properties"],
                                                                            record["offset_utc"])}))
                    held["relationships"] += 1
        return held

    # --- import --------------------------------------------------------------------------------
    def import_(self) -> None:
        params = self.params
        path = mf.manifest_path(params["src"])
        base = os.path.dirname(os.path.abspath(path))
        self.results.update(src=params["src"], manifest_path=path)
        manifest = mf.read_manifest(path)
        if manifest.get("kind") != MANIFEST_KIND:
            raise Neo4jError("%s describes a %s, not a neo4j_export: nothing was imported" % (path, manifest.get("kind")))
        if manifest.get("status") != mf.STATUS_VALID:
            raise Neo4jError("the export in %s is %s (%s): it is not imported"
                             % (base, manifest.get("status"), "; ".join(manifest.get("problems") or []) or "no reason given"))
        problems = mf.verify_files(manifest, base)
        if problems:
            raise Neo4jError("the export in %s does not match its manifest: %s; nothing was imported"
                             % (base, "; ".join(problems)))
        entry = choose_import_file(manifest, params["import_format"])
        expected = manifest["counts"]
        self.results.update(manifest=manifest, expected=expected,
                            import_file={"name": entry["name"], "format": entry["format"]})

        self.connect()
        started = time.monotonic()
        before = self.counts()
        self.results.update(counts=before, server=server_info(self.driver, self.database), schema_created=[])
        if before["nodes"] and not params["force"]:
            raise Neo4jError("the database %r at %s is not empty (%d nodes, %d relationships): the import loads only into "
                             "an empty database; set force: true to delete everything in it first"
                             % (self.database, bolt_address(params["neo4j_uri"]), before["nodes"], before["relationships"]))
        if self.module._diff:
            self.results["diff"] = dict(before=before, after=expected)
        self.results.update(changed=True, wiped=before["nodes"])
        if self.check_mode:
            self.results["duration_seconds"] = round(time.monotonic() - started, 3)
            return

        timings = self.results["timings"] = {}
        mark = time.monotonic()
        if before["nodes"]:
            self.results["wiped"] = delete_all(self.driver, self.database, params["batch_size"])
            timings["wipe"], mark = round(time.monotonic() - mark, 3), time.monotonic()
        try:
            self.load(os.path.join(base, entry["name"]))
        except (Neo4jError, neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as exc:
            detail = str(exc) if isinstance(exc, Neo4jError) else explain_error(params, exc)
            raise Neo4jError("the import stopped part-way, the database holds part of the export: %s; run it again "
                             "with force: true" % detail)
        timings["load"], mark = round(time.monotonic() - mark, 3), time.monotonic()
        self.results["schema_created"] = self.create_schema(manifest.get("schema") or [])
        timings["schema"], mark = round(time.monotonic() - mark, 3), time.monotonic()
        after = self.counts()
        timings["verify"] = round(time.monotonic() - mark, 3)
        self.results.update(counts=after, duration_seconds=round(time.monotonic() - started, 3))
        differences = diff_counts(expected, after)
        if differences:
            self.fail("the imported graph does not match the manifest of %s: %s" % (base, "; ".join(differences)))

    def load(self, path: str) -> None:
        """Nodes, then relationships, batch by batch. Servers that take labels and types from parameters
        (Neo4j 5.26 and later) get one query for all; older ones one query per label set and per type."""
        batch = self.params["batch_size"]
        dynamic = supports_dynamic_tokens(self.results["server"].get("version"))
        write(self.driver, self.database, "CREATE INDEX %s IF NOT EXISTS FOR (n:%s) ON (n.%s)"
              % (IMPORT_INDEX, quote_identifier(IMPORT_LABEL), quote_identifier(IMPORT_ID)))
        read(self.driver, self.database, "CALL db.awaitIndexes(300)")
        nodes = ({"id": record["id"], "labels": list(record.get("labels") or ()) + [IMPORT_LABEL],
                  "properties": decode_properties(record.get("properties") or {})}
                 for record in self.records(path, "node"))
        for labels, rows in batched(nodes, None if dynamic else node_labels, batch):
            self.create_nodes(labels, rows)
        rels = ({"type": record["label"], "start": record["start"]["id"], "end": record["end"]["id"],
                 "properties": decode_properties(record.get("properties") or {})}
                for record in self.records(path, "relationship"))
        for rel_type, rows in batched(rels, None if dynamic else relationship_type, batch):
            self.create_relationships(rel_type, rows)
        label, key = quote_identifier(IMPORT_LABEL), quote_identifier(IMPORT_ID)
        while write(self.driver, self.database, "MATCH (n:%s) WITH n LIMIT $batch REMOVE n:%s REMOVE n.%s RETURN count(*) AS n"
                    % (label, label, key), batch=batch)[0]["n"]:
            pass
        write(self.driver, self.database, "DROP INDEX %s IF EXISTS" % IMPORT_INDEX)

    @staticmethod
    def records(path: str, kind: str):
        """The records of one kind in a JSON Lines export, one at a time."""
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise Neo4jError("%s line %d is not JSON: %s" % (path, number, exc))
                if record.get("type") == kind:
                    yield record

    def create_nodes(self, labels, rows: list) -> None:
        """One batch of nodes; labels None: each row's own labels (dynamic labels)."""
        label_expr = "$(row.labels)" if labels is None else ":".join(quote_identifier(label) for label in labels)
        write(self.driver, self.database, "UNWIND $rows AS row CREATE (n:%s {%s: row.id}) SET n += row.properties"
              % (label_expr, quote_identifier(IMPORT_ID)), rows=rows)

    def create_relationships(self, rel_type, rows: list) -> None:
        """One batch of relationships; rel_type None: each row's own type (dynamic types)."""
        label, key = quote_identifier(IMPORT_LABEL), quote_identifier(IMPORT_ID)
        type_expr = "$(row.type)" if rel_type is None else quote_identifier(rel_type)
        created = write(self.driver, self.database,
                        "UNWIND $rows AS row MATCH (a:%s {%s: row.start}) MATCH (b:%s {%s: row.end}) "
                        "CREATE (a)-[r:%s]->(b) SET r += row.properties RETURN count(r) AS n"
                        % (label, key, label, key, type_expr), rows=rows)[0]["n"]
        if created != len(rows):
            raise Neo4jError("%d of %d relationships of the batch name a node the export does not hold"
                             % (len(rows) - created, len(rows)))

    def create_schema(self, schema: list) -> list:
        created = []
        for item in schema:
            try:
                write(self.driver, self.database, item["statement"])
            except neo4j.exceptions.ClientError as exc:
                if error_code(exc) in SCHEMA_EXISTS_CODES:
                    continue
                raise Neo4jError("cannot create the %s %s of the export: %s" % (item["kind"], item["name"], exc.message))
            created.append(item["name"])
        if created:
            read(self.driver, self.database, "CALL db.awaitIndexes(600)")
        return created


def main():
    argument_spec = neo4j_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="exported", choices=["exported", "imported"]),
        dest=dict(type="path"),
        src=dict(type="path"),
        formats=dict(type="list", elements="str", default=["driver", "cypher"], choices=list(FORMATS)),
        compression=dict(type="str", default="none", choices=["none", "gzip"]),
        batch_size=dict(type="int", default=1000),
        force=dict(type="bool", default=False),
        import_format=dict(type="str", default="auto", choices=["auto", "driver", "json"]),
        user_id_property=dict(type="str", default="user_id"),
        embedding_property=dict(type="str", default="embedding"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "exported", ("dest",)), ("state", "imported", ("src",))],
        supports_check_mode=True,
    )
    if module.params["batch_size"] < 1:
        module.fail_json(msg="batch_size must be at least 1, got %d" % module.params["batch_size"])
    if not module.params["formats"]:
        module.fail_json(msg="formats must name at least one of %s" % ", ".join(FORMATS))
    Neo4jExport(module).run()


if __name__ == "__main__":
    main()

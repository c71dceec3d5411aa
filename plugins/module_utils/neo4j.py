# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One way to reach the stack's Neo4j: the official driver over Bolt.

Every connection failure becomes a Neo4jError whose message says what failed and what to check.
The count helpers are plain functions taking a driver and a database name, so that every module
(neo4j_export, mem0_memory_count, embedding_dim_check) counts the graph the same way.
The password only ever travels in the driver's auth token.
"""

from __future__ import annotations

import base64
import traceback
from datetime import timezone
from urllib.parse import urlsplit

from ansible.module_utils.basic import missing_required_lib

try:
    import neo4j
    import neo4j.exceptions
    import neo4j.spatial
    import neo4j.time
    HAS_NEO4J = True
    NEO4J_IMPORT_ERROR = None
except ImportError:
    HAS_NEO4J = False
    NEO4J_IMPORT_ERROR = traceback.format_exc()

BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
DEFAULT_BOLT_PORT = 7687
USER_ID_PROPERTY = "user_id"
EMBEDDING_PROPERTY = "embedding"
# Key of the JSON object that carries a property value JSON has no type for (temporal, spatial, bytes).
# Neo4j properties are never maps, so an object in a property value is always such a value.
TYPE_KEY = "$neo4j"
CARTESIAN_SRIDS = (7203, 9157)


def neo4j_argument_spec() -> dict:
    """The options of doc fragment mem0ops.stack.neo4j."""
    return dict(
        neo4j_uri=dict(type="str", default="bolt://127.0.0.1:7687"),
        neo4j_user=dict(type="str", default="neo4j"),
        neo4j_password=dict(type="str", no_log=True),
        neo4j_database=dict(type="str", default="neo4j"),
    )


class Neo4jError(Exception):
    """A failure to reach or query Neo4j, with what to check."""


def ensure_required_libs(module) -> None:
    if not HAS_NEO4J:
        module.fail_json(msg=missing_required_lib("neo4j"), exception=NEO4J_IMPORT_ERROR)


def bolt_address(uri: str) -> str:
    """host:port of a Bolt URI, without any user information."""
    parts = urlsplit(uri)
    try:
        port = parts.port or DEFAULT_BOLT_PORT
    except ValueError:
        port = "?"
    return "%s:%s" % (parts.hostname or "?", port)


def check_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in BOLT_SCHEMES or not parts.hostname:
        raise Neo4jError("neo4j_uri %r is not a Bolt URI: use bolt://HOST:PORT (or one of the schemes %s)"
                         % (uri, ", ".join(BOLT_SCHEMES)))
    if parts.username or parts.password:
        raise Neo4jError("neo4j_uri must not carry credentials: set neo4j_user and neo4j_password instead")
    try:
        parts.port
    except ValueError:
        raise Neo4jError("neo4j_uri %r has an invalid port" % uri)


def error_code(exc) -> str:
    return getattr(exc, "code", None) or ""


def error_detail(exc) -> str:
    """The server's or the driver's own words, on one line."""
    text = getattr(exc, "message", None) or str(exc)
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else type(exc).__name__


def explain_error(params: dict, exc: Exception) -> str:
    """What went wrong, and where to look, for the usual connection failures."""
    where = bolt_address(params["neo4j_uri"])
    user, database = params["neo4j_user"], params["neo4j_database"]
    code = error_code(exc)
    detail = error_detail(exc)
    if code == "Neo.ClientError.Security.AuthenticationRateLimit":
        return ("Neo4j at %s refuses logins for now after too many failed attempts (%s): wait a few seconds, "
                "and fix the password first" % (where, detail))
    if code.startswith("Neo.ClientError.Security.") and code != "Neo.ClientError.Security.Forbidden":
        if params.get("neo4j_password") is None:
            return ("Neo4j at %s requires authentication and no neo4j_password was given: set it from the "
                    "inventory's Neo4j service (%s)" % (where, detail))
        return ("Neo4j at %s refused the login of user %r: the password in the inventory does not match the "
                "server's; after a data wipe Neo4j takes the password from NEO4J_AUTH again (%s)" % (where, user, detail))
    if code == "Neo.ClientError.Database.DatabaseNotFound":
        return ("database %r does not exist on the Neo4j server at %s (Neo4j Community has only 'neo4j' and "
                "'system'): check neo4j_database (%s)" % (database, where, detail))
    if code == "Neo.ClientError.Security.Forbidden":
        return "user %r may not do this on %s, database %r: %s" % (user, where, database, detail)
    if HAS_NEO4J and isinstance(exc, neo4j.exceptions.ServiceUnavailable):
        return "nothing answers Bolt at %s: is the container running? (%s)" % (where, detail)
    if code == "Neo.TransientError.General.DatabaseUnavailable" or (
            HAS_NEO4J and isinstance(exc, neo4j.exceptions.DatabaseUnavailable)):
        return "database %r on %s is not available (stopped or still starting?): %s" % (database, where, detail)
    return "cannot use Neo4j at %s, database %r: %s" % (where, database, detail)


def connect(params: dict, connect_timeout: float = 10.0):
    """A driver whose server answered `RETURN 1` in the database; raises Neo4jError with what to check."""
    check_uri(params["neo4j_uri"])
    auth = None
    if params.get("neo4j_password") is not None:
        auth = (params["neo4j_user"], params["neo4j_password"])
    try:
        driver = neo4j.GraphDatabase.driver(
            params["neo4j_uri"], auth=auth, connection_timeout=connect_timeout,
            connection_acquisition_timeout=connect_timeout * 3, user_agent="mem0ops.stack")
    except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
        raise Neo4jError("invalid Neo4j connection settings for %s: %s" % (bolt_address(params["neo4j_uri"]), exc))
    try:
        # A session, not execute_query: a failure must surface now, not after the driver's retries.
        with driver.session(database=params["neo4j_database"]) as session:
            session.run("RETURN 1").consume()
    except Exception as exc:
        driver.close()
        raise Neo4jError(explain_error(params, exc))
    return driver


def driver_from_module(module):
    """Check the driver library, then connect; a failure fails the module with what to check."""
    ensure_required_libs(module)
    try:
        return connect(module.params)
    except Neo4jError as exc:
        module.fail_json(msg=str(exc))


def quote_identifier(name: str) -> str:
    """A label, relationship type or property name as a Cypher identifier."""
    return "`%s`" % name.replace("`", "``")


def read(driver, database: str, query: str, **parameters) -> list:
    """All records of a read query, as dicts (small results only: counts, facts)."""
    with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as session:
        return [record.data() for record in session.run(query, parameters)]


def write(driver, database: str, query: str, **parameters) -> list:
    """All records of a write query run in one managed (retried) transaction."""
    def work(tx):
        return [record.data() for record in tx.run(query, parameters)]
    with driver.session(database=database) as session:
        return session.execute_write(work)


def scalar(driver, database: str, query: str, **parameters):
    rows = read(driver, database, query, **parameters)
    return next(iter(rows[0].values())) if rows else None


# --- facts about the server ---------------------------------------------------------------------

def server_info(driver, database: str) -> dict:
    """Version and edition of the server, and the identity of the database (what `db.info()` gives)."""
    info = {"version": None, "edition": None, "database": database, "database_id": None, "creation_date": None}
    for row in read(driver, database, "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition"):
        if row["name"] == "Neo4j Kernel":
            info["version"] = row["versions"][0] if row["versions"] else None
            info["edition"] = row["edition"]
    try:
        rows = read(driver, database, "CALL db.info() YIELD id, creationDate RETURN id, creationDate")
    except neo4j.exceptions.Neo4jError:
        rows = []
    if rows:
        info["database_id"] = rows[0]["id"]
        info["creation_date"] = str(rows[0]["creationDate"])
    return info


def apoc_info(driver, database: str) -> dict:
    """APOC's version and its export/import procedures; version None when APOC is not installed."""
    rows = read(driver, database,
                "SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'apoc.export.' OR name STARTS WITH 'apoc.import.' "
                "RETURN collect(name) AS names")
    procedures = sorted(rows[0]["names"]) if rows else []
    version = None
    try:
        version = scalar(driver, database, "RETURN apoc.version() AS version")
    except neo4j.exceptions.ClientError:
        pass
    return {"version": version, "procedures": procedures}


# --- counts ---------------------------------------------------------------------------------------

def count_nodes(driver, database: str) -> int:
    return scalar(driver, database, "MATCH (n) RETURN count(n) AS n")


def count_relationships(driver, database: str) -> int:
    return scalar(driver, database, "MATCH ()-[r]->() RETURN count(r) AS n")


def nodes_per_label(driver, database: str) -> dict:
    """{label: nodes} for every label in use (from the count store: no scan)."""
    counts = {}
    for label in sorted(row["label"] for row in read(driver, database, "CALL db.labels() YIELD label RETURN label")):
        n = scalar(driver, database, "MATCH (n:%s) RETURN count(n) AS n" % quote_identifier(label))
        if n:
            counts[label] = n
    return counts


def relationships_per_type(driver, database: str) -> dict:
    """{type: relationships} for every relationship type in use (from the count store: no scan)."""
    counts = {}
    rows = read(driver, database, "CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType")
    for rel_type in sorted(row["relationshipType"] for row in rows):
        n = scalar(driver, database, "MATCH ()-[r:%s]->() RETURN count(r) AS n" % quote_identifier(rel_type))
        if n:
            counts[rel_type] = n
    return counts


def nodes_per_user_id(driver, database: str, prop: str = USER_ID_PROPERTY) -> dict:
    """{user_id: nodes} over the nodes that have the property (mem0 keeps one entity node per user)."""
    rows = read(driver, database, "MATCH (n) WHERE n[$prop] IS NOT NULL RETURN n[$prop] AS user_id, count(*) AS n",
                prop=prop)
    counts = {}
    for row in rows:
        key = row["user_id"] if isinstance(row["user_id"], str) else str(row["user_id"])
        counts[key] = counts.get(key, 0) + row["n"]
    return dict(sorted(counts.items()))


def embedding_dims(driver, database: str, prop: str = EMBEDDING_PROPERTY) -> dict:
    """{dims: nodes}: the distinct lengths of the embedding property on nodes."""
    rows = read(driver, database, "MATCH (n) WHERE n[$prop] IS NOT NULL RETURN size(n[$prop]) AS dims, count(*) AS n",
                prop=prop)
    return dict(sorted((row["dims"], row["n"]) for row in rows))


def graph_counts(driver, database: str, user_id_property: str = USER_ID_PROPERTY,
                 embedding_property: str = EMBEDDING_PROPERTY) -> dict:
    """Every count a manifest holds, JSON-ready (embedding dims as string keys)."""
    nodes = count_nodes(driver, database)
    users = nodes_per_user_id(driver, database, user_id_property)
    return {
        "nodes": nodes,
        "relationships": count_relationships(driver, database),
        "labels": nodes_per_label(driver, database),
        "relationship_types": relationships_per_type(driver, database),
        "user_ids": users,
        "nodes_without_user_id": nodes - sum(users.values()),
        "embedding_dims": {str(k): v for k, v in embedding_dims(driver, database, embedding_property).items()},
    }


COUNT_SECTIONS = (
    ("labels", "nodes with label"),
    ("relationship_types", "relationships of type"),
    ("user_ids", "nodes of user_id"),
    ("embedding_dims", "nodes with embedding dims"),
)
COUNT_TOTALS = (
    ("nodes", "nodes"),
    ("relationships", "relationships"),
    ("nodes_without_user_id", "nodes without user_id"),
)


def diff_counts(expected: dict, actual: dict) -> list:
    """One line per count that differs, 'what: expected X, found Y'; empty when they agree."""
    problems = []
    for key, what in COUNT_TOTALS:
        if key in expected and expected.get(key) != actual.get(key):
            problems.append("%s: expected %s, found %s" % (what, expected.get(key), actual.get(key)))
    for key, what in COUNT_SECTIONS:
        if key not in expected:
            continue
        want, got = expected.get(key) or {}, actual.get(key) or {}
        for name in sorted(set(want) | set(got)):
            if want.get(name, 0) != got.get(name, 0):
                problems.append("%s %s: expected %d, found %d" % (what, name, want.get(name, 0), got.get(name, 0)))
    return problems


def schema_statements(driver, database: str, exclude_names=()) -> list:
    """The CREATE statements of the user-defined constraints and indexes (lookup indexes and the indexes
    that back constraints come with the database or the constraint)."""
    statements = []
    for row in read(driver, database, "SHOW CONSTRAINTS YIELD name, createStatement RETURN name, createStatement ORDER BY name"):
        if row["name"] not in exclude_names:
            statements.append({"kind": "constraint", "name": row["name"], "statement": row["createStatement"]})
    rows = read(driver, database,
                "SHOW INDEXES YIELD name, type, owningConstraint, createStatement "
                "WHERE type <> 'LOOKUP' AND owningConstraint IS NULL RETURN name, createStatement ORDER BY name")
    for row in rows:
        if row["name"] not in exclude_names:
            statements.append({"kind": "index", "name": row["name"], "statement": row["createStatement"]})
    return statements


def delete_all(driver, database: str, batch_size: int) -> int:
    """MATCH (n) DETACH DELETE n, one transaction per batch of nodes; returns the nodes deleted."""
    deleted = 0
    while True:
        rows = write(driver, database, "MATCH (n) WITH n LIMIT $batch DETACH DELETE n RETURN count(*) AS n",
                     batch=batch_size)
        if not rows or not rows[0]["n"]:
            return deleted
        deleted += rows[0]["n"]


# --- property values <-> JSON --------------------------------------------------------------------

def _zone_name(tzinfo):
    name = getattr(tzinfo, "key", None) or getattr(tzinfo, "zone", None)
    return name if isinstance(name, str) else None


def offset_utc_keys(var: str) -> str:
    """Cypher naming the properties of ``var`` whose zoned datetimes carry the offset ``Z`` and not the zone id ``UTC``.

    The driver hydrates both as pytz's one UTC object, so only the server can tell them apart (``valueType``, Neo4j
    5.13 and later); the export passes these keys to encode_properties, so that a ``Z`` comes back as ``Z`` and not as
    ``[UTC]`` (the same instant, another value: Cypher's ``=`` tells them apart). In a list, every UTC datetime of a
    list holding one ``Z`` is taken as ``Z``."""
    return ("[k IN keys({v}) WHERE CASE WHEN valueType({v}[k]) = 'ZONED DATETIME NOT NULL' THEN {v}[k].timezone = 'Z' "
            "WHEN valueType({v}[k]) STARTS WITH 'LIST<ZONED DATETIME' THEN any(x IN {v}[k] WHERE x.timezone = 'Z') "
            "ELSE false END]").format(v=var)


def knows_value_type(version) -> bool:
    """Whether a server of this version (``5.26.0``) has Cypher's ``valueType`` (5.13 and later)."""
    try:
        major, minor = (int(part) for part in str(version).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 13)


def encode_value(value, offset_utc: bool = False):
    """A property value as JSON: lists and scalars as they are, the rest as {"$neo4j": type, ...}. ``offset_utc``: a
    UTC datetime is the offset ``Z`` (offset_utc_keys), kept without a zone id."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if HAS_NEO4J and isinstance(value, neo4j.spatial.Point):
        return {TYPE_KEY: "point", "srid": value.srid, "coordinates": list(value)}
    if HAS_NEO4J and isinstance(value, neo4j.time.Duration):
        return {TYPE_KEY: "duration", "months": value.months, "days": value.days, "seconds": value.seconds,
                "nanoseconds": value.nanoseconds}
    if isinstance(value, (list, tuple)):
        return [encode_value(item, offset_utc) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return {TYPE_KEY: "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if HAS_NEO4J and isinstance(value, neo4j.time.DateTime):
        if value.tzinfo is None:
            return {TYPE_KEY: "localdatetime", "value": value.iso_format()}
        zone = _zone_name(value.tzinfo)
        return {TYPE_KEY: "datetime", "value": value.iso_format(),
                "zone": None if offset_utc and zone == "UTC" else zone}
    if HAS_NEO4J and isinstance(value, neo4j.time.Date):
        return {TYPE_KEY: "date", "value": value.iso_format()}
    if HAS_NEO4J and isinstance(value, neo4j.time.Time):
        return {TYPE_KEY: "localtime" if value.tzinfo is None else "time", "value": value.iso_format()}
    raise Neo4jError("cannot export a property value of type %s" % type(value).__name__)


def _timezone(name: str):
    try:
        import pytz
        return pytz.timezone(name)
    except ImportError:
        from zoneinfo import ZoneInfo
        return ZoneInfo(name)


def decode_value(value):
    """The inverse of encode_value: driver values ready to be sent as query parameters."""
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TYPE_KEY)
    if kind == "point":
        cls = neo4j.spatial.CartesianPoint if value["srid"] in CARTESIAN_SRIDS else neo4j.spatial.WGS84Point
        point = cls(value["coordinates"])
        if point.srid != value["srid"]:
            raise Neo4jError("unsupported point SRID %s" % value["srid"])
        return point
    if kind == "bytes":
        return bytearray(base64.b64decode(value["base64"]))
    if kind in ("datetime", "localdatetime"):
        parsed = neo4j.time.DateTime.from_iso_format(value["value"])
        if value.get("zone"):
            return parsed.astimezone(_timezone(value["zone"]))
        if parsed.tzinfo is not None and not parsed.utcoffset():
            # the parser gives +00:00 pytz's UTC, which the driver sends as the zone id UTC: keep it an offset
            return parsed.replace(tzinfo=timezone.utc)
        return parsed
    if kind == "date":
        return neo4j.time.Date.from_iso_format(value["value"])
    if kind in ("time", "localtime"):
        return neo4j.time.Time.from_iso_format(value["value"])
    if kind == "duration":
        return neo4j.time.Duration(months=value["months"], days=value["days"], seconds=value["seconds"],
                                   nanoseconds=value["nanoseconds"])
    raise Neo4jError("a property value is a JSON object without a known %r type (%s): Neo4j properties "
                     "cannot be maps" % (TYPE_KEY, sorted(value)[:5]))


def encode_properties(properties: dict, offset_keys=()) -> dict:
    return {key: encode_value(value, key in offset_keys) for key, value in properties.items()}


def decode_properties(properties: dict) -> dict:
    return {key: decode_value(value) for key, value in properties.items()}

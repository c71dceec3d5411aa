# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils.neo4j: the argument spec, URI checks, error messages, count diffs and property encoding.

Talking to a real server is tested in tests/integration/test_neo4j_export.py.
"""

from __future__ import annotations

import json
from datetime import timezone

import pytest
import yaml

import neo4j.exceptions
import neo4j.spatial
import neo4j.time

from ansible_collections.mem0ops.stack.plugins.doc_fragments import neo4j as neo4j_fragment
from ansible_collections.mem0ops.stack.plugins.module_utils import neo4j as n4j

UTC = timezone.utc
PARAMS = {"neo4j_uri": "bolt://127.0.0.1:7688", "neo4j_user": "neo4j", "neo4j_password": "s3cret-password",
          "neo4j_database": "neo4j"}


class ServerError(Exception):
    """An error as the server reports it: a Neo4j status code and a message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def test_argument_spec_mirrors_the_doc_fragment():
    options = yaml.safe_load(neo4j_fragment.ModuleDocFragment.DOCUMENTATION)["options"]
    spec = n4j.neo4j_argument_spec()

    assert set(spec) == set(options)
    for name, doc in options.items():
        assert spec[name]["type"] == doc["type"], name
        assert spec[name].get("default") == doc.get("default"), name
    assert spec["neo4j_password"]["no_log"] is True
    assert "default" not in spec["neo4j_password"]


@pytest.mark.parametrize("uri, address", [
    ("bolt://127.0.0.1:7688", "127.0.0.1:7688"),
    ("neo4j://db.example:17687", "db.example:17687"),
    ("bolt+s://db.example", "db.example:7687"),
])
def test_bolt_address(uri, address):
    n4j.check_uri(uri)
    assert n4j.bolt_address(uri) == address


@pytest.mark.parametrize("uri, message", [
    ("http://127.0.0.1:7474", "is not a Bolt URI"),
    ("127.0.0.1:7687", "is not a Bolt URI"),
    ("bolt://neo4j:pw@127.0.0.1:7687", "must not carry credentials"),
    ("bolt://127.0.0.1:99999", "invalid port"),
])
def test_check_uri_rejects(uri, message):
    with pytest.raises(n4j.Neo4jError, match=message):
        n4j.check_uri(uri)


@pytest.mark.parametrize("exc, expected", [
    (ServerError("Neo.ClientError.Security.Unauthorized", "The client is unauthorized due to authentication failure."),
     "refused the login of user 'neo4j': the password in the inventory does not match the server's; after a data "
     "wipe Neo4j takes the password from NEO4J_AUTH again"),
    (ServerError("Neo.ClientError.Security.AuthenticationRateLimit", "The client has provided incorrect "
                 "authentication details too many times in a row."), "refuses logins for now"),
    (ServerError("Neo.ClientError.Database.DatabaseNotFound", "Graph not found: memories"),
     "database 'neo4j' does not exist on the Neo4j server at 127.0.0.1:7688"),
    (ServerError("Neo.TransientError.General.DatabaseUnavailable", "Database 'neo4j' unavailable"),
     "database 'neo4j' on 127.0.0.1:7688 is not available (stopped or still starting?): Database 'neo4j' unavailable"),
    (neo4j.exceptions.ServiceUnavailable("Couldn't connect to 127.0.0.1:7688"),
     "nothing answers Bolt at 127.0.0.1:7688: is the container running?"),
])
def test_explain_error(exc, expected):
    message = n4j.explain_error(PARAMS, exc)

    assert expected in message
    assert PARAMS["neo4j_password"] not in message


def test_explain_auth_error_without_password():
    params = dict(PARAMS, neo4j_password=None)
    exc = ServerError("Neo.ClientError.Security.Unauthorized", "Unsupported authentication token, missing key `scheme`")

    assert "requires authentication and no neo4j_password was given" in n4j.explain_error(params, exc)


def test_connect_to_a_closed_port_says_nothing_answers():
    params = dict(PARAMS, neo4j_uri="bolt://127.0.0.1:1")

    with pytest.raises(n4j.Neo4jError) as exc:
        n4j.connect(params, connect_timeout=2)

    assert str(exc.value).startswith("nothing answers Bolt at 127.0.0.1:1: is the container running?")


@pytest.mark.parametrize("name, quoted", [
    ("__Entity__", "`__Entity__`"),
    ("WORKS_ON", "`WORKS_ON`"),
    ("odd `label`", "`odd ``label```"),
])
def test_quote_identifier(name, quoted):
    assert n4j.quote_identifier(name) == quoted


COUNTS = {
    "nodes": 70, "relationships": 94, "nodes_without_user_id": 0,
    "labels": {"__Entity__": 70},
    "relationship_types": {"WORKS_ON": 11, "USES": 14},
    "user_ids": {"mark_carey/sap": 24, "mark_carey/booking": 6},
    "embedding_dims": {"768": 70},
}


def test_diff_counts_agree():
    assert n4j.diff_counts(COUNTS, json.loads(json.dumps(COUNTS))) == []


def test_diff_counts_names_every_difference():
    found = json.loads(json.dumps(COUNTS))
    found.update(nodes=64, relationships=90)
    found["user_ids"] = {"mark_carey/sap": 24}
    found["relationship_types"] = {"WORKS_ON": 11, "USES": 10}
    found["embedding_dims"] = {"768": 58, "1536": 6}
    found["labels"]["Stray"] = 1

    assert n4j.diff_counts(COUNTS, found) == [
        "nodes: expected 70, found 64",
        "relationships: expected 94, found 90",
        "nodes with label Stray: expected 0, found 1",
        "relationships of type USES: expected 14, found 10",
        "nodes of user_id mark_carey/booking: expected 6, found 0",
        "nodes with embedding dims 1536: expected 0, found 6",
        "nodes with embedding dims 768: expected 70, found 58",
    ]


def test_diff_counts_ignores_sections_the_manifest_lacks():
    assert n4j.diff_counts({"nodes": 70}, COUNTS) == []


VALUES = [
    None, True, 42, -2 ** 63, 0.1, "mark_carey/sap", [0.0, -0.5773502691896258, 1e-12], ["a", "b"], [],
    neo4j.time.DateTime(2026, 1, 3, 12, 31, 0, 123456789, tzinfo=UTC).astimezone(n4j._timezone("Europe/Berlin")),
    neo4j.time.DateTime(2026, 1, 3, 13, 31, 0).replace(tzinfo=None),
    neo4j.time.Date(2026, 1, 27),
    neo4j.time.Time(10, 0, 1, 500000000),
    neo4j.time.Duration(months=14, days=3, seconds=14405, nanoseconds=500000000),
    neo4j.spatial.CartesianPoint((1.0, 2.0)),
    neo4j.spatial.WGS84Point((13.4, 52.5, 34.0)),
    bytearray(b"\x00\xffmem0"),
    [neo4j.time.Date(2026, 1, 1), neo4j.time.Date(2026, 1, 2)],
]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ + str(i) for i, v in enumerate(VALUES)])
def test_property_values_survive_a_json_round_trip(value):
    encoded = json.loads(json.dumps(n4j.encode_value(value)))
    decoded = n4j.decode_value(encoded)

    assert decoded == value
    assert type(decoded) is type(value)


def test_named_time_zone_is_kept():
    value = neo4j.time.DateTime(2026, 7, 3, 11, 31, tzinfo=UTC).astimezone(n4j._timezone("Europe/Berlin"))

    encoded = n4j.encode_value(value)

    assert encoded == {"$neo4j": "datetime", "value": "2026-07-03T13:31:00.000000000+02:00", "zone": "Europe/Berlin"}
    assert n4j._zone_name(n4j.decode_value(encoded).tzinfo) == "Europe/Berlin"


def test_offset_z_and_zone_id_utc_stay_apart():
    import pytz  # the driver hydrates both the offset Z and the zone id UTC as pytz's one UTC object

    value = neo4j.time.DateTime(2026, 1, 27, 8, 15, tzinfo=pytz.utc)
    as_offset = n4j.encode_properties({"seen": value, "all": [value]}, offset_keys=["seen", "all"])
    as_zone = n4j.encode_properties({"seen": value})

    assert as_offset["seen"]["zone"] is None and as_offset["all"][0]["zone"] is None
    assert as_zone["seen"]["zone"] == "UTC"
    # sent back, an offset must not carry a zone name (the driver would send the zone id UTC)
    assert n4j._zone_name(n4j.decode_value(as_offset["seen"]).tzinfo) is None
    assert n4j.decode_value(as_offset["seen"]).utcoffset().total_seconds() == 0
    assert n4j._zone_name(n4j.decode_value(as_zone["seen"]).tzinfo) == "UTC"


def test_value_type_needs_neo4j_5_13():
    assert n4j.knows_value_type("5.26.0") and n4j.knows_value_type("2025.01.0")
    assert not n4j.knows_value_type("5.12.0") and not n4j.knows_value_type("4.4.30") and not n4j.knows_value_type(None)
    assert "valueType(n[k])" in n4j.offset_utc_keys("n")


def test_plain_values_are_written_as_they_are():
    properties = {"name": "mark", "embedding": [0.0, 0.25], "mentions": 9, "valid": True}

    assert n4j.encode_properties(properties) == properties
    assert n4j.decode_properties(properties) == properties


def test_a_map_value_is_refused_on_import():
    with pytest.raises(n4j.Neo4jError, match="Neo4j properties cannot be maps"):
        n4j.decode_value({"crs": "wgs-84", "latitude": 52.5})


def test_an_unknown_value_type_is_refused_on_export():
    with pytest.raises(n4j.Neo4jError, match="cannot export a property value of type object"):
        n4j.encode_value(object())

# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the modules that talk to the stack's Neo4j graph database."""

    DOCUMENTATION = r"""
options:
  neo4j_uri:
    description:
      - Bolt URI of the Neo4j server.
    type: str
    default: bolt://127.0.0.1:7687
  neo4j_user:
    description:
      - User to authenticate as.
    type: str
    default: neo4j
  neo4j_password:
    description:
      - Password of O(neo4j_user).
      - When omitted, the session is opened without authentication (a server started with C(NEO4J_AUTH=none)).
    type: str
  neo4j_database:
    description:
      - Name of the database to use.
    type: str
    default: neo4j
requirements:
  - neo4j (Neo4j Python driver) >= 5.0
"""

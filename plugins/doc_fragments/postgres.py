# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


# The session options, written once for both ways of documenting them below: DOCUMENTATION (the modules that reach
# the server over TCP or inside its container) and LOGIN (the modules that only connect with psycopg2).
SESSION_OPTIONS = r"""
options:
  login_host:
    description:
      - Host on which PostgreSQL listens.%(host_note)s
    type: str
    default: 127.0.0.1
  login_port:
    description:
      - TCP port on which PostgreSQL listens.
    type: int
    default: 5432
  login_user:
    description:
      - Role used to open the session.
    type: str
  login_password:
    description:
      - Password of O(login_user).
      - It is never logged, returned, nor put on a command line%(password_note)s.
    type: str
  db:
    description:
      - Database to connect to.
    type: str%(db_aliases)s
"""
DB_ALIASES = """
    aliases: [database, login_db]"""


class ModuleDocFragment:
    """Connection options of the modules that talk to the stack's PostgreSQL (pgvector) database."""

    DOCUMENTATION = SESSION_OPTIONS % dict(
        host_note="""
      - With O(connect_via=docker_exec) the connection is made from inside O(container), so this is the
        address as seen from inside the container.""",
        password_note="""; with O(connect_via=docker_exec) it is passed
        to the process inside the container through its environment""",
        db_aliases=DB_ALIASES,
    ) + r"""  connect_via:
    description:
      - How to reach the database.
      - V(tcp) connects from the managed host with C(psycopg2).
      - V(docker_exec) runs the PostgreSQL client tools inside O(container) with the Docker API, so their
        version always matches the server's and no PostgreSQL port needs to be published.
    type: str
    choices: [tcp, docker_exec]
    default: tcp
  container:
    description:
      - Name or ID of the PostgreSQL container.
      - Required when O(connect_via=docker_exec).
    type: str
  docker_host:
    description:
      - URL of the Docker API used when O(connect_via=docker_exec).
    type: str
    default: unix:///var/run/docker.sock
  connect_timeout:
    description:
      - Seconds to wait for the connection to be established.
    type: int
    default: 10
requirements:
  - psycopg2 >= 2.8 when O(connect_via=tcp)
  - docker (Docker SDK for Python) >= 7.0 when O(connect_via=docker_exec)
notes:
  - The modules connect to the PostgreSQL server of the mem0 stack, which is normally reachable on the loopback
    address only; run them on the host that runs the stack.
"""

    # The modules that run the PostgreSQL client tools (pg_dump, pg_restore), with module_utils.postgres's runners.
    CLIENT_TOOLS = r"""
options:
  bin_dir:
    description:
      - Directory of the PostgreSQL client tools (C(pg_dump), C(pg_restore)) to run with O(connect_via=tcp), for example
        C(/usr/lib/postgresql/17/bin) or C(/opt/homebrew/opt/postgresql@17/bin).
      - By default they are looked up in E(PATH).
      - Not used with O(connect_via=docker_exec), which runs the client tools of the database container.
    type: path
notes:
  - The password reaches the client tools through a temporary C(0600) password file (O(connect_via=tcp)) or the
    environment of the process inside the container (O(connect_via=docker_exec)), never through their command line.
"""

    # The modules that connect with psycopg2 from the managed host only (no connect_via); each says which of these
    # options it requires, and pgvector_restore_progress gives O(db) the aliases of DOCUMENTATION.
    LOGIN = SESSION_OPTIONS % dict(host_note="", password_note="", db_aliases="")

    # The modules that read mem0's table of memories, with module_utils.mem0_data.
    COLLECTION = r"""
options:
  collection:
    description:
      - Name of mem0's table of memories (the C(collection_name) of mem0's pgvector configuration; the mem0 server's
        default is C(memories)).
      - mem0's C(mem0migrations) table holds telemetry, not memories, and is never counted as memories.
    type: str
    default: memories
"""

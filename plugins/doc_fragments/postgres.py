# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the modules that talk to the stack's PostgreSQL (pgvector) database.

    Every such module extends C(mem0ops.stack.postgres), the session it opens; those that can also reach the server
    inside its container extend C(mem0ops.stack.postgres.connect_via) too.
    """

    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host on which PostgreSQL listens.
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
      - It is never logged, returned, nor put on a command line.
    type: str
  db:
    description:
      - Database to connect to.
    type: str
"""

    # The modules that reach the server over TCP or inside its container (module_utils.postgres's PostgresClient);
    # they give O(db) the aliases it has always had there.
    CONNECT_VIA = r"""
options:
  db:
    aliases: [database, login_db]
  connect_via:
    description:
      - How to reach the database.
      - V(tcp) connects from the managed host with C(psycopg2).
      - V(docker_exec) runs the PostgreSQL client tools inside O(container) with the Docker API, so their
        version always matches the server's and no PostgreSQL port needs to be published.
      - With V(docker_exec) the connection is made from inside O(container), so O(login_host) is the address as seen
        from inside the container, and O(login_password) is passed to the process inside the container through its
        environment.
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

# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Docker SDK for Python, imported in this one place for every module and module_utils that uses the Docker API.

``docker`` is None when the SDK is missing; HAS_DOCKER and DOCKER_IMPORT_ERROR say so, for ``missing_required_lib``.
"""

from __future__ import annotations

import traceback

try:
    # Imported for the modules and module_utils that import them from here.
    import docker  # pylint: disable=unused-import
    import docker.errors  # pylint: disable=unused-import
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    docker = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

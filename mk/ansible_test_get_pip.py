# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the pip bootstrap script that ansible-test downloads from ci-files.testing.ansible.com.

ansible-test creates every sanity test virtual environment without pip, then runs
``~/.ansible/test/cache/get_pip_<version>.py`` (normally get-pip.py) with pip install arguments,
``pip==<version>`` among them. This script does the same with the pip wheel bundled with the
interpreter (ensurepip), so only the package index has to be reachable.
"""

from __future__ import annotations

import glob
import os
import sys

import ensurepip

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def bundled_pip_wheel():
    """Return the path of the pip wheel that ships with this interpreter."""
    bundled = os.path.join(os.path.dirname(ensurepip.__file__), '_bundled')
    wheels = sorted(glob.glob(os.path.join(bundled, 'pip-*.whl')))
    if not wheels:
        sys.exit('no bundled pip wheel in %s' % bundled)
    return wheels[-1]


def main():
    """Install the requested packages (the pinned pip first of all) with the bundled pip."""
    sys.path.insert(0, bundled_pip_wheel())
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    sys.exit(pip_main(['install', '--upgrade', '--force-reinstall'] + args))


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_metrics_textfile
short_description: Write metrics as a Prometheus textfile for node_exporter's textfile collector
version_added: 0.1.0
description:
  - Writes the given metric families to O(path) in Prometheus' text format, for node_exporter's textfile collector
    (C(--collector.textfile.directory)), through the collection's one formatter (C(module_utils/prometheus.py)), which
    M(mem0ops.stack.mem0_memory_count) uses too.
  - The names are checked against Prometheus' conventions before anything is written; a gauge named like a counter,
    summary or histogram (C(_total), C(_count), C(_sum), C(_bucket)), an invalid name or label, a family or a label set
    given twice fails with the rule it broke.
  - The file is written whole under a temporary name in the same directory and renamed (mode 0644), so node_exporter
    never reads half a file. The same content is not rewritten.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.check_diff_full
attributes:
  idempotent:
    support: full
    details:
      - The same metrics and values report no change and leave the file alone.
options:
  path:
    description: The textfile to write; its name ends in C(.prom), its directory exists.
    type: path
    required: true
  metrics:
    description:
      - The metric families, in the order they are written.
      - Each is a dict with C(name), C(help), C(type) (V(gauge), the default, or V(counter)) and either C(value) (one
        sample without labels) or C(samples), a list of dicts with C(labels) (a dict) and C(value).
      - A value is a number or a bool (1/0); a null value leaves its sample out.
    type: list
    elements: dict
    required: true
notes:
  - Name a metric in base units with its unit as a suffix (C(_bytes), C(_seconds), C(_timestamp_seconds)), a 0-1 ratio
    C(_ratio); a value that is one of a few states as one series per state with a label, 1 for the current one.
seealso:
  - module: mem0ops.stack.mem0_memory_count
"""

EXAMPLES = r"""
- name: Write the last backup attempt for node_exporter
  mem0ops.stack.mem0_metrics_textfile:
    path: /var/lib/mem0ops/monitoring/textfile/mem0_backup_daily.prom
    metrics:
      - name: mem0_backup_last_attempt_timestamp_seconds
        help: When the last backup attempt of the tier ended.
        samples: [{labels: {tier: daily}, value: "{{ now().timestamp() }}"}]
      - name: mem0_backup_set_size_bytes
        help: Size of the set the last attempt wrote.
        samples: [{labels: {tier: daily}, value: 1214522}]
"""

RETURN = r"""
path:
  description: The file written (or that would be written).
  returned: always
  type: str
  sample: /var/lib/mem0ops/monitoring/textfile/mem0_backup_daily.prom
text:
  description: The Prometheus text of the file.
  returned: always
  type: str
  sample: "# HELP mem0_backup_set_size_bytes Size of the set.\n# TYPE mem0_backup_set_size_bytes gauge\n..."
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils.prometheus import MetricError, read_text, render, write_textfile


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), metrics=dict(type="list", elements="dict", required=True)),
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        text = render(module.params["metrics"])
    except MetricError as exc:
        module.fail_json(msg="cannot write %s: %s" % (path, exc), path=path)
    # In check mode a directory the run would create first (the textfile directory of a first run) is no error.
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))) and not module.check_mode:
        module.fail_json(msg="cannot write %s: its directory does not exist (create the textfile directory first)" % path,
                         path=path)
    before = read_text(path)
    changed = before != text
    result = dict(changed=changed, path=path, text=text)
    if module._diff:
        result["diff"] = dict(before=before or "", after=text, before_header=path, after_header=path)
    if changed and not module.check_mode:
        try:
            write_textfile(path, module.params["metrics"])
        except OSError as exc:
            module.fail_json(msg="cannot write %s: %s" % (path, exc), path=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

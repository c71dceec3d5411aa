# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Prometheus text every writer of the collection uses: node_exporter's textfile collector reads the files.

One formatter (the text exposition format 0.0.4), the conventions checked where the metrics are named rather than
found by promtool later: valid metric and label names, gauges never named like counters or histograms (``_total``,
``_count``, ``_sum``, ``_bucket``), each family once, each label set once per family. Files are written whole under a
temporary name and renamed, so node_exporter never reads half a file.

A family is a dict: ``name``, ``help``, ``type`` (``gauge`` by default, or ``counter``) and either ``value`` (one
sample without labels) or ``samples`` (a list of ``{labels: {...}, value: ...}``). A value is a number or a bool;
None leaves the sample out (a family with no sample left is written with its HELP and TYPE only).
"""

from __future__ import annotations

import math
import re

from ansible_collections.mem0ops.stack.plugins.module_utils.manifest import write_text_atomic

TYPES = ("gauge", "counter")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Suffixes Prometheus gives a meaning: a counter's, a summary's or a histogram's series.
RESERVED_GAUGE_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


class MetricError(ValueError):
    """A family that breaks the format or the naming conventions."""


def escape_label_value(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value) -> str:
    """A sample value as Prometheus reads it: bools as 1/0, integers as such, floats with repr, NaN and +-Inf."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise MetricError("%r is not a number" % value)
    if not isinstance(value, float):
        raise MetricError("%r is not a number" % (value,))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _samples(family: dict) -> list:
    if "samples" in family and "value" in family:
        raise MetricError("%s: give value or samples, not both" % family.get("name"))
    if "samples" in family:
        samples = family["samples"] or []
        if not isinstance(samples, list):
            raise MetricError("%s: samples must be a list of {labels, value}" % family.get("name"))
        return samples
    return [{"labels": {}, "value": family.get("value")}]


def check_family(family: dict) -> None:
    name = family.get("name")
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        raise MetricError("%r is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)" % (name,))
    kind = family.get("type", "gauge")
    if kind not in TYPES:
        raise MetricError("%s: type %r is not one of %s" % (name, kind, ", ".join(TYPES)))
    if kind == "gauge" and name.endswith(RESERVED_GAUGE_SUFFIXES):
        raise MetricError("%s: a gauge may not end in %s (Prometheus reserves them for counters, summaries and "
                          "histograms); name what it measures, e.g. mem0_memories" % (name, "/".join(RESERVED_GAUGE_SUFFIXES)))
    if kind == "counter" and not name.endswith("_total"):
        raise MetricError("%s: a counter's name ends in _total" % name)
    if not family.get("help"):
        raise MetricError("%s: every family has a HELP text" % name)


def render(families: list) -> str:
    """The text of a whole file: each family's HELP, TYPE and samples, in the order given."""
    lines, seen = [], set()
    for family in families:
        check_family(family)
        name = family["name"]
        if name in seen:
            raise MetricError("%s: the family is given twice" % name)
        seen.add(name)
        lines.append("# HELP %s %s" % (name, escape_help(family["help"])))
        lines.append("# TYPE %s %s" % (name, family.get("type", "gauge")))
        label_sets = set()
        for sample in _samples(family):
            if not isinstance(sample, dict):
                raise MetricError("%s: a sample is a dict with labels and value" % name)
            if sample.get("value") is None:
                continue
            labels = sample.get("labels") or {}
            for label in labels:
                if not LABEL_NAME.match(str(label)) or str(label).startswith("__"):
                    raise MetricError("%s: %r is not a valid label name" % (name, label))
            key = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
            if key in label_sets:
                raise MetricError("%s: the labels %s are given twice" % (name, dict(key)))
            label_sets.add(key)
            text = ",".join('%s="%s"' % (k, escape_label_value(v)) for k, v in key)
            lines.append("%s%s %s" % (name, "{%s}" % text if text else "", format_value(sample["value"])))
    return "\n".join(lines) + "\n"


def read_text(path: str):
    """The file's text, or None when it does not exist."""
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_textfile(path: str, families: list, mode: int = 0o644) -> str:
    """Render the families and write them to path atomically (temporary file in the same directory, fsync,
    rename); return the text."""
    text = render(families)
    write_text_atomic(path, text, mode)
    return text

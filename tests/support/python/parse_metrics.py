"""Parses an OpenMetrics exposition from stdin with prometheus_client's strict parser.

Prints every sample as JSON (family, type, sample name, labels, value); exits non-zero with the
parser's error when the text is not valid OpenMetrics. Used by tests/support/metrics.rs.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append(
            {
                "family": family.name,
                "type": family.type,
                "name": sample.name,
                "labels": sample.labels,
                "value": sample.value,
            }
        )
json.dump(samples, sys.stdout)

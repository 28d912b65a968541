"""Parses OTLP/HTTP JSON export bodies with the official protobuf definitions.

Reads a JSON array of request bodies (strings) from stdin; each must parse with
google.protobuf.json_format into opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest
with no unknown field. OTLP/JSON writes trace and span ids as hex where protobuf's JSON mapping
expects base64, so ids are converted first (and must then be 16 and 8 bytes). Prints the number
of spans; exits non-zero with the reason otherwise. Used by tests/support/otlp.rs.
"""

import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def ids_to_base64(value):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ID_FIELDS and isinstance(item, str):
                raw = bytes.fromhex(item)
                if len(raw) != ID_FIELDS[key]:
                    sys.exit(f"{key} {item!r} is not {ID_FIELDS[key]} bytes of hex")
                out[key] = base64.b64encode(raw).decode()
            else:
                out[key] = ids_to_base64(item)
        return out
    if isinstance(value, list):
        return [ids_to_base64(item) for item in value]
    return value


count = 0
for body in json.load(sys.stdin):
    request = ExportTraceServiceRequest()
    json_format.Parse(json.dumps(ids_to_base64(json.loads(body))), request, ignore_unknown_fields=False)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if span.start_time_unix_nano == 0 or span.end_time_unix_nano < span.start_time_unix_nano:
                    sys.exit(f"span {span.name} has bad times")
                count += 1
print(count)

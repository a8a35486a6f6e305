"""docs/API_DOCUMENTATION.md, written from the OpenAPI document (`evpm.api.openapi`), so the
prose reference cannot drift from what the API serves at /openapi.json."""

from __future__ import annotations

import json

from evpm.api.openapi import document

EXAMPLE_REQUEST = {
    "vehicle_id": "V001", "discharge_time_s": 3245.8, "voltage_drop_time_s": 1820.3,
    "delta_T_C": 16.2, "avg_current": -1.98, "avg_voltage": 3.73, "current_std": 0.05,
    "voltage_std": 0.42, "mean_max_temp": 33.1, "dod": 78.5, "voltage_V_mean": 3.73,
    "current_A_mean": -1.98, "temperature_C_mean": 30.8, "temperature_C_max": 35.4,
}
EXAMPLE_RESPONSE = {
    "vehicle_id": "V001", "predicted_soh": 0.874, "predicted_sop": 41250.0,
    "health_score": 0.30, "status": "Healthy",
    "prediction_id": "2f1c0f0e-7c1a-4a53-9a57-3d0e6f1a2b3c", "timestamp": "2026-11-27T08:30:00Z",
    "model_version": "1.75c1f3e462", "warnings": [], "source_file": None, "profile": None,
    # The 13 reference features carry no soc_error: the widest read, as evpm.uncertainty says.
    "soh_low": 0.657, "soh_high": 1.091, "sop_low": 15675.0, "sop_high": 66825.0,
    "duplicate": False,
}
EXAMPLE_ERROR = {"error": "invalid request", "details": [
    {"field": "dod", "problem": "is required"},
    {"field": "avg_voltage", "problem": "42.0 is physically impossible (allowed 0.5 to 5)"}]}


def _schema_name(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "oneOf" in schema:
        return " or ".join(_schema_name(s) for s in schema["oneOf"])
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema['items'])}"
    if "enum" in schema and "type" not in schema:  # one of the listed values (in the notes)
        return "string" if all(isinstance(v, str) for v in schema["enum"]) else "enum"
    return schema.get("type", "object")


def _properties(name: str, schema: dict) -> list[str]:
    required = set(schema.get("required", []))
    lines = [f"### {name}", "", "| field | type | required | notes |", "|---|---|---|---|"]
    for field, spec in schema.get("properties", {}).items():
        kind = spec.get("type", _schema_name(spec))
        if isinstance(kind, list):
            kind = " / ".join(kind)
        notes = []
        if "minimum" in spec or "maximum" in spec:
            notes.append(f"{spec.get('minimum', '−∞')} … {spec.get('maximum', '∞')}")
        if "enum" in spec:
            notes.append(", ".join(f"`{v}`" for v in spec["enum"]))
        if spec.get("description"):
            notes.append(spec["description"])
        lines.append(f"| `{field}` | {kind} | {'yes' if field in required else ''} | "
                     f"{'; '.join(notes)} |")
    return lines + [""]


def markdown() -> str:
    """The whole API reference as Markdown."""
    doc = document()
    out = [
        "# Model API reference",
        "",
        "<!-- Written by `python -m evpm.api.reference > docs/API_DOCUMENTATION.md` from the "
        "OpenAPI document the API serves at /openapi.json; a test fails when it is stale. -->",
        "",
        f"{doc['info']['title']}, version {doc['info']['version']}. Base URL: "
        "`http://HOST:5000` (the local run and the containers). Design decisions, storage and "
        "speed: [API.md](API.md), [BENCHMARKS.md](BENCHMARKS.md). A Postman collection with "
        "every endpoint and error case: [api_test_requests.json](api_test_requests.json).",
        "",
        "## Authentication",
        "",
        "When the API has a secret (`EVPM_JWT_SECRET`, always in the containers), every "
        "endpoint marked *token* needs `Authorization: Bearer <JWT>` (HS256, with `sub` and "
        "`exp`). Make one with `evpm api token [--subject NAME] [--days N]`; the local run "
        "(`make run`) prints one. A missing, expired or wrongly signed token gets a 401.",
        "",
        "## Endpoints",
        "",
        "| method | path | auth | what it does |",
        "|---|---|---|---|",
    ]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            auth = "token" if op.get("security") else "open"
            out.append(f"| {method.upper()} | `{path}` | {auth} | {op['summary']} |")
    out.append("")
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            out += [f"### {method.upper()} {path}", "", op["summary"] + ".", ""]
            for parameter in op.get("parameters", []):
                text = parameter.get("description")
                out.append(f"- `{parameter['name']}` ({parameter['in']}, "
                           f"{parameter['schema'].get('type', '')})"
                           + (f": {text}" if text else ""))
            if op.get("parameters"):
                out.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                out += [f"Request body (`application/json`): {_schema_name(body['schema'])}.",
                        ""]
            out += ["| status | meaning | body |", "|---|---|---|"]
            for status, response in op["responses"].items():
                content = response.get("content", {})
                kind = next(iter(content), "")
                schema = content.get(kind, {}).get("schema")
                shown = _schema_name(schema) if schema else kind
                out.append(f"| {status} | {response['description']} | {shown} |")
            out.append("")
    out += [
        "## Example",
        "",
        "```bash",
        "curl -s -X POST http://localhost:5000/predict \\",
        '  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\',
        f"  -d '{json.dumps(EXAMPLE_REQUEST)}'",
        "```",
        "",
        "Answer (200; values depend on the model version):",
        "",
        "```json",
        json.dumps(EXAMPLE_RESPONSE, indent=2),
        "```",
        "",
        "A batch is a JSON array of such objects (up to 10,000), answered by an array in the "
        "same order. The same request sent again with the same `Idempotency-Key` header (or "
        "`idempotency_key` field) returns the first prediction with `\"duplicate\": true`.",
        "",
        "## Errors",
        "",
        "Every error is JSON: `{\"error\": …, \"details\": [{\"field\": …, \"problem\": …}]}`; "
        "in a batch, fields are named `[row].field`. A client mistake is never a 500, and "
        "nothing is stored for a rejected request.",
        "",
        "```json",
        json.dumps(EXAMPLE_ERROR, indent=2, ensure_ascii=False),
        "```",
        "",
        "| status | when |",
        "|---|---|",
        "| 400 | the body is not valid JSON |",
        "| 401 | no token, or an invalid or expired one (when auth is on) |",
        "| 404 | unknown path, or no predictions for that vehicle |",
        "| 405 | wrong method for the path |",
        "| 413 | body over `EVPM_MAX_BODY_BYTES` (32 MiB) or more rows than "
        "`EVPM_MAX_BATCH_ROWS` (10,000) |",
        "| 415 | `Content-Type` is not `application/json` |",
        "| 422 | missing, non-numeric, NaN/infinite or physically impossible values, an "
        "invalid vehicle id, profile, timestamp or limit, an empty batch, `explain` on more "
        "rows than `EVPM_MAX_EXPLAIN_ROWS` (1,000) |",
        "| 503 | `/health` only: the database is unreachable |",
        "",
        "## Schemas",
        "",
    ]
    for name, schema in doc["components"]["schemas"].items():
        out += _properties(name, schema)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")

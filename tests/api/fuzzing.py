"""Property-based fuzzing of the live API from its own OpenAPI document (schemathesis).

The API under gunicorn (tests/processes.py's ApiProcess) serves GET /openapi.json; the
schemathesis CLI loads that document, generates requests from it — valid ones and, in its
"negative" mode, ones that break the document's request schemas — sends them with a valid
bearer token, and checks every response against the document: no 5xx, only documented status
codes, content types and response schemas, invalid data rejected, valid data accepted, auth
not ignored, unsupported methods answered 405 with an Allow header.

Used by tests/api/test_fuzz.py (in CI: a fixed seed, 1,000+ cases per database) and by
scripts/fuzz_api.py (a bigger campaign by hand, optionally keeping the server for replay).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.processes import ApiProcess

# The CI seed; EVPM_FUZZ_SEED runs another one (a failure report prints the seed it used).
DEFAULT_SEED = 20261127
# Fuzzing-phase cases per operation (positive and negative together); the coverage phase adds
# its boundary cases (~800 for /predict) and the stateful phase its request chains on top.
# /predict, the operation with the large request schema, gets most; `scale` multiplies all.
MAX_EXAMPLES = 80
OPERATION_EXAMPLES = {"POST /predict": 450, "GET /vehicles/{vehicle_id}/history": 200}
# A run that generated fewer cases than this is a configuration gone wrong, not a pass.
MIN_CASES = 1000
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# What schemathesis' negative_data_rejection check takes as a refusal, plus 413: a batch over
# the documented maxItems is refused with 413 (documented for /predict), like a body over the
# byte limit — as much a rejection as a 422; and 414 / 431, the HTTP server's own refusals of
# an overlong request line or header (documented for every operation).
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428",
            "429", "431", "5xx"]

# A response slower than this fails the run (a hang, a quadratic path); generous, as the
# coverage phase sends 10,000-row batches to two workers on a busy 2-core machine.
MAX_RESPONSE_S = 30
# Schemathesis' warnings; all shown but dictionary_mismatch (the edge values bound to a
# parameter none of them fits, e.g. `limit`, serve its negative cases: meant). Those in
# FAIL_ON_WARNINGS fail the run: the token not sent or not accepted, or parts of the document
# schemathesis cannot generate from — the run would test less than it says.
WARNINGS = ["missing_auth", "missing_test_data", "base_url_mismatch", "validation_mismatch",
            "missing_deserializer", "unused_openapi_auth", "unsupported_regex",
            "method_not_allowed", "constants_extraction", "unmatched_filter",
            "unresolvable_reference", "low_valid_rate", "rate_limited", "dictionary_mismatch",
            "timeout_units"]
FAIL_ON_WARNINGS = ["missing_auth", "unused_openapi_auth", "unsupported_regex",
                    "unresolvable_reference", "unmatched_filter"]
# Values that broke this API before, mixed into the generated data wherever the document has
# a string / number / integer — where they fit the schema in positive cases, where they do not
# in negative ones: date-times at the ends of the calendar (which overflow in UTC) and just
# before the accepted window, a key longer than a database column, non-ASCII, a space, an
# empty string, a 400-digit integer (as an integer where an integer parameter takes it), the
# 64-bit integer limits, the largest and the smallest floats.
EDGE_VALUES = [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1999-12-31T23:59:59Z",
    "k" * 300, "Ω" * 70, "a b", "", "1" + "0" * 400,
    9223372036854775807, -9223372036854775808, 1.7976931348623157e308, -1.7976931348623157e308,
    5e-324]
# How often a parameter (path, query, header) of each type, or a field of a request body,
# gets an edge value instead of a generated one (per field: /predict has 34, in every row).
EDGE_PROBABILITY = {"string": 0.15, "number": 0.02, "integer": 0.1}
EDGE_BODY_PROBABILITY = 0.02


# Schemathesis hooks, written into each run's work folder (the CLI imports them from there).
HOOKS_MODULE = "evpm_fuzz_hooks"
HOOKS = '''"""Checks of the API fuzzing run (tests/api/fuzzing.py writes this file)."""

import datetime as dt
import json

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance


@schemathesis.check
def positive_data_accepted_unless_state_or_clock(ctx, response, case):
    """positive_data_acceptance, except for the three 422s no schema can foresee:

    - an idempotency key already used for a different request: the fuzzer draws keys at
      random and so reuses short ones; a 422 for it is what the IETF Idempotency-Key draft
      asks for, and which keys the server has seen is state, not schema;
    - a trip `timestamp` later than now (+ a day's tolerance) refused: the bound moves with
      the clock, a schema is fixed (its earliest date belongs in the schema, and is checked);
    - `explain=true` on a batch longer than EVPM_MAX_EXPLAIN_ROWS: a bound on the body that
      depends on a query parameter, which OpenAPI cannot state (its description does).

    Every other refusal of schema-valid data still fails the run."""
    if response.status_code == 422:
        try:
            error = json.loads(response.content)
        except ValueError:
            error = None
        if isinstance(error, dict) and (error.get("error") in ("idempotency key reused",
                                                               "too many rows to explain")
                                        or _only_future_timestamps(error, case.body)):
            return None
    return positive_data_acceptance(ctx, response, case)


def _only_future_timestamps(error, body):
    details = error.get("details") or []
    rows = body if isinstance(body, list) else [body]
    now = dt.datetime.now(dt.timezone.utc)
    for detail in details:
        field = str(detail.get("field", ""))
        if field.rsplit(".", 1)[-1] != "timestamp":
            return False
        try:
            row = rows[int(field[1:field.index("]")]) if field.startswith("[") else 0]
            stamp = dt.datetime.fromisoformat(str(row["timestamp"]).replace("Z", "+00:00"))
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
            if stamp <= now:
                return False
        except (ValueError, KeyError, IndexError, TypeError, OverflowError):
            return False
    return bool(details)
'''


def body_fields(document: dict) -> list[str]:
    """Binding keys ("body.name", "body.[*].name") of the scalar fields of the request bodies.

    A request body's fields are those of its object schema and, for an array body (a batch),
    of its items; references and oneOf / anyOf / allOf branches are followed.
    """
    schemas = document.get("components", {}).get("schemas", {})
    keys: list[str] = []

    def walk(schema, prefix: str, seen: frozenset) -> None:
        if not isinstance(schema, dict):
            return
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            walk(schemas.get(ref.rsplit("/", 1)[-1]), prefix, seen | {ref})
        for keyword in ("oneOf", "anyOf", "allOf"):
            for branch in schema.get(keyword) or []:
                walk(branch, prefix, seen)
        if prefix == "body" and isinstance(schema.get("items"), dict):
            walk(schema["items"], "body.[*]", seen)
        for name, field_schema in (schema.get("properties") or {}).items():
            types = field_schema.get("type") if isinstance(field_schema, dict) else None
            types = types if isinstance(types, list) else [types]
            if {"string", "number", "integer"} & set(types) and f"{prefix}.{name}" not in keys:
                keys.append(f"{prefix}.{name}")

    for item in document.get("paths", {}).values():
        for operation in item.values():
            content = (operation.get("requestBody") or {}).get("content") or {}
            walk((content.get("application/json") or {}).get("schema"), "body", frozenset())
    return keys


def config_toml(seed: int, scale: float = 1.0, workers: int = 2,
                document: dict | None = None) -> str:
    """The schemathesis.toml of a campaign (edge values in the body fields of `document`)."""
    body_bindings = "\n".join(
        f'"{key}" = {{ dictionary = "edges", probability = {EDGE_BODY_PROBABILITY} }}'
        for key in body_fields(document or {}))
    type_bindings = "\n".join(
        f'{kind} = {{ dictionary = "edges", probability = {chance} }}'
        for kind, chance in EDGE_PROBABILITY.items())
    per_operation = "\n".join(
        f'[[operations]]\ninclude-name = "{name}"\n'
        f"generation.max-examples = {max(1, round(count * scale))}\n"
        for name, count in OPERATION_EXAMPLES.items())
    return f"""\
seed = {seed}
hooks = "{HOOKS_MODULE}"
# Two gunicorn workers on a 2-core machine: more clients would only queue.
workers = {workers}
# Collect every distinct failure of an operation, not only its first.
continue-on-failure = true
# A 10,000-row batch (the documented maximum, sent by the coverage phase) takes seconds.
request-timeout = 120

# The token comes from the environment, not the command line, and goes only to operations
# whose `security` names the bearer scheme, so public ones are fuzzed without one and the
# ignored_auth check can tell whether a protected one really refuses a missing/bad token.
[auth.openapi.bearer]
bearer = "${{EVPM_FUZZ_TOKEN}}"

[output.sanitization]
# Hide the token, show the rest: an idempotency key is no secret, and a failure's curl
# command must carry it to reproduce the failure. (An empty list would mean the defaults,
# which hide every field whose name contains "key".)
keys-to-sanitize = ["authorization"]
sensitive-markers = ["authorization"]

[warnings]
display = {json.dumps([w for w in WARNINGS if w != "dictionary_mismatch"])}
fail-on = {json.dumps(FAIL_ON_WARNINGS)}

[generation]
# Positive (schema-valid) and negative (schema-violating) data.
mode = "all"
max-examples = {max(1, round(MAX_EXAMPLES * scale))}
# Same seed, same cases: no example database carried over from an earlier run.
database = "none"

[checks.negative_data_rejection]
expected-statuses = {json.dumps(REJECTED)}

[checks]
max_response_time = {MAX_RESPONSE_S}

# Edge values (EDGE_VALUES in tests/api/fuzzing.py): parameters by type, body fields one by one.
[dictionaries.edges]
values = {json.dumps(EDGE_VALUES)}

[generation.dictionaries]
{type_bindings}

[parameters]
{body_bindings}

{per_operation}"""


@dataclass
class Campaign:
    """One schemathesis run against a live API: its command, output, report and cases."""

    command: list[str]
    exit_code: int
    output: str
    report: dict
    cases: list[dict] = field(default_factory=list)
    seed: int = DEFAULT_SEED
    workdir: Path | None = None

    @property
    def generated(self) -> int:
        """Test cases generated and sent (schemathesis' own count)."""
        return (self.report.get("test_cases") or {}).get("generated", 0)

    @property
    def failures(self) -> list[dict]:
        """Failure groups: check code, title, count, operations."""
        return self.report.get("failures") or []

    @property
    def errors(self) -> list[dict]:
        """Errors: network failures (a worker that died mid-request), schemathesis crashes."""
        return self.report.get("errors") or []

    def count(self, key: str, operation: str | None = None) -> Counter:
        """Cases by `key` (mode, phase, status, body), of one operation or of all."""
        return Counter(case[key] for case in self.cases
                       if operation is None or case["operation"] == operation)

    def summary(self) -> str:
        """One line: cases, modes, operations, time, verdict."""
        ops = self.report.get("operations") or {}
        modes = ", ".join(f"{mode} {n}" for mode, n in sorted(self.count("mode").items(),
                                                               key=str))
        return (f"{self.generated} cases ({modes}) on {ops.get('tested')}/{ops.get('total')} "
                f"operations in {self.report.get('running_time', 0):.0f} s, seed {self.seed}: "
                f"{len(self.failures)} kinds of failure, {len(self.errors)} errors")

    def problems(self, operations: list[str]) -> list[str]:
        """Why this run does not pass (empty when it does); `operations` as documented."""
        found = []
        for group in self.failures:
            found.append(f"{group['code']} {group['title']} ({group['count']}): "
                         f"{', '.join(group['operations'])}")
        for error in self.errors:
            found.append(f"error: {error['title']} ({error['count']})")
        warnings = self.report.get("warnings") or {}
        for name in FAIL_ON_WARNINGS:
            if warnings.get(name):
                found.append(f"warning {name}: {warnings[name]}")
        if self.exit_code != 0 and not found:
            found.append(f"schemathesis exited with {self.exit_code}")
        if not self.report.get("complete"):
            found.append("the run did not complete")
        ops = self.report.get("operations") or {}
        if ops.get("tested") != len(operations):
            found.append(f"{ops.get('tested')} of {len(operations)} documented operations tested")
        if self.generated < MIN_CASES:
            found.append(f"only {self.generated} cases generated (at least {MIN_CASES} expected)")
        if not self.count("mode").get("negative"):
            found.append("no negative (schema-violating) cases were sent")
        # Each operation answered a valid request at least once: the token is accepted, and
        # the run tested the API rather than its 401 / 422 answers.
        for operation in operations:
            statuses = self.count("status", operation)
            if not any(200 <= (status or 0) < 300 for status in statuses):
                found.append(f"{operation} never answered 2xx: {dict(statuses)}")
        return found

    def explain(self, problems: list[str], replay: str) -> str:
        """The failure report: problems, schemathesis' own output (with curl), how to replay."""
        return "\n".join([
            "API fuzzing found problems:", *(f"  - {p}" for p in problems), "",
            "schemathesis output (each failure with a curl command that reproduces it):",
            self.output[-80_000:], "",
            f"Command: {shlex.join(self.command)}",
            f"Seed: {self.seed}. Run the same cases again: {replay}",
            "This run's server is gone: `scripts/fuzz_api.py --keep` keeps one running to send "
            "the curl commands to (or `st replay ID` in its work folder).",
            f"Reports (JSON, NDJSON with every request and response): {self.workdir}/reports"])


def _cases(ndjson: Path) -> list[dict]:
    """Every case of a run's NDJSON events: operation, phase, mode, body, headers, status."""
    found = []
    if not ndjson.exists():
        return found
    with ndjson.open() as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
            interactions = recorder.get("interactions") or {}
            for case_id, node in (recorder.get("cases") or {}).items():
                case = node.get("value") or {}
                meta = case.get("meta") or {}
                response = (interactions.get(case_id) or {}).get("response") or {}
                found.append({
                    "operation": f"{case.get('method')} {case.get('path')}",
                    "phase": (meta.get("phase") or {}).get("name"),
                    "mode": (meta.get("generation") or {}).get("mode"),
                    "body": type(case["body"]).__name__ if "body" in case else None,
                    "headers": frozenset(h.lower() for h in case.get("headers") or {}),
                    "status": response.get("status_code")})
    return found


def run_campaign(base_url: str, token: str, workdir: Path, *, seed: int = DEFAULT_SEED,
                 scale: float = 1.0, extra: list[str] | None = None,
                 timeout: float | None = None) -> Campaign:
    """Run schemathesis on the API at `base_url`, from the document it serves."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    config.write_text(config_toml(seed, scale, document=fetch_document(base_url)))
    (workdir / f"{HOOKS_MODULE}.py").write_text(HOOKS)
    reports = workdir / "reports"
    command = [
        str(SCHEMATHESIS), "--config-file", str(config), "--no-color", "run",
        f"{base_url}/openapi.json",
        # Every check: server errors, documented status codes, content types, response
        # schemas and headers, negative data rejected, positive data accepted, unsupported
        # methods → 405 + Allow, created resources found, auth not ignored. None of them is
        # about the document merely being unusual, so none is turned off: ignored_auth only
        # tests operations whose `security` asks for the token (public /health, /metrics and
        # /openapi.json are left alone), object_level_authorization and use_after_free find
        # nothing to do in an API without users or DELETE, max_response_time is set above.
        "--checks", "all",
        # … with positive_data_acceptance replaced by the hook's version (see HOOKS).
        "--exclude-checks", "positive_data_acceptance",
        # Schemathesis leaves out the operation serving the document it loaded unless a
        # filter names it; /openapi.json is an operation of this API like the others.
        "--include-path-regex", "^/",
        "--report", "json,ndjson",
        "--report-json-path", str(reports / "run.json"),
        "--report-ndjson-path", str(reports / "events.ndjson"),
        *(extra or [])]
    # The work folder as the current one: schemathesis keeps its crash files (for
    # `st replay`) and Hypothesis its folder there, not in the checkout.
    env = {**os.environ, "EVPM_FUZZ_TOKEN": token, "NO_COLOR": "1", "COLUMNS": "120"}
    try:
        result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        exit_code, output = result.returncode, result.stdout + result.stderr
    except subprocess.TimeoutExpired as exc:  # killed: report what it printed so far
        exit_code = -1
        output = "".join(part.decode(errors="replace") if isinstance(part, bytes) else part
                         for part in (exc.stdout, exc.stderr) if part)
        output += f"\n(schemathesis did not finish within {timeout:.0f} s)"
    path = reports / "run.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    return Campaign(command, exit_code, output, report, _cases(reports / "events.ndjson"),
                    seed, workdir)


def fetch_document(base_url: str) -> dict:
    """The OpenAPI document the API serves."""
    with urllib.request.urlopen(f"{base_url}/openapi.json", timeout=30) as response:
        return json.load(response)


def new_secret() -> str:
    """A random JWT secret (the API refuses weak ones)."""
    return secrets.token_hex(32)


def mint(secret: str) -> str:
    """A valid bearer token for `secret`, good for a day."""
    from evpm.api.auth import mint_token

    return mint_token(secret, subject="fuzzer", days=1)


@contextlib.contextmanager
def private_postgres(url: str):
    """`url` pointed at a PostgreSQL schema of its own, dropped afterwards.

    The tests share one database; a private schema (search_path) keeps the fuzzer's tables
    apart from those of the storage tests, which drop and create theirs.
    """
    import psycopg

    name = f"evpm_fuzz_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextlib.contextmanager
def live_api(folder: Path, database_url: str, secret: str):
    """The API under gunicorn (2 workers) on `database_url`, auth on; stopped afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    api = ApiProcess(folder, secret=secret, DATABASE_URL=database_url).start()
    try:
        yield api
    finally:
        api.stop()


def documented_operations(document: dict) -> list[str]:
    """'METHOD /path' of every operation in an OpenAPI document."""
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return [f"{method.upper()} {path}" for path, item in document["paths"].items()
            for method in item if method in methods]


def logged_crashes(log_text: str) -> Counter:
    """What the server log says went wrong: each exception (its last traceback line) and each
    killed or timed-out worker, with how often. A 5xx is one failure to schemathesis however
    many different exceptions caused it; the log names them all."""
    found: Counter = Counter()
    in_traceback = False
    for line in log_text.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace():
            found[line.strip()[:200]] += 1  # "OverflowError: date value out of range"
            in_traceback = False
        elif any(marker in line for marker in ("WORKER TIMEOUT", "was sent SIGKILL",
                                               "exited with code", "RecursionError")):
            found[line.split("] ", 2)[-1].strip()[:200]] += 1
    return found


def replay_command(database: str, seed: int) -> str:
    """The commands that run a campaign again."""
    return (f"EVPM_FUZZ_SEED={seed} .venv/bin/pytest tests/api/test_fuzz.py -k {database}   "
            f"or, keeping the server up: .venv/bin/python scripts/fuzz_api.py --database "
            f"{database} --seed {seed} --keep")

"""Property-based fuzzing of the live API (gunicorn) from its own OpenAPI document.

Schemathesis reads GET /openapi.json and sends 1,000+ generated requests per database —
schema-valid ones and, in its negative mode, schema-violating ones (wrong types, values out
of range, missing fields, invalid headers and query values, unsupported methods) — with a
valid bearer token, checking every answer against the document. The run fails on any 5xx,
any undocumented status code, content type or response body, invalid data accepted, valid
data refused, auth ignored, or a request the server never answered; the report lists every
failure with a curl command that reproduces it, and how to run the same cases again.

Seeded (EVPM_FUZZ_SEED, default tests/api/fuzzing.py's DEFAULT_SEED); EVPM_FUZZ_SCALE
multiplies the number of cases. A bigger campaign by hand: scripts/fuzz_api.py.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.api.fuzzing import (
    DEFAULT_SEED,
    documented_operations,
    fetch_document,
    live_api,
    logged_crashes,
    mint,
    new_secret,
    private_postgres,
    replay_command,
    run_campaign,
)

SEED = int(os.environ.get("EVPM_FUZZ_SEED", DEFAULT_SEED))
SCALE = float(os.environ.get("EVPM_FUZZ_SCALE", "1"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(name, URL): a fresh SQLite file, or a private schema of the test PostgreSQL."""
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'fuzz.db'}"
        return
    with private_postgres(request.getfixturevalue("postgres_url")) as url:
        yield "postgresql", url


@pytest.mark.slow
def test_live_api_conforms_to_its_openapi_document_under_fuzzing(database, tmp_path):
    name, url = database
    secret = new_secret()
    started = time.perf_counter()
    with live_api(tmp_path / "server", url, secret) as api:
        base = f"http://127.0.0.1:{api.port}"
        document = fetch_document(base)
        campaign = run_campaign(base, mint(secret), tmp_path / "fuzz", seed=SEED, scale=SCALE,
                                timeout=240)
    elapsed = time.perf_counter() - started
    print(f"fuzzing on {name}: {campaign.summary()}; {elapsed:.0f} s with server start")

    operations = documented_operations(document)
    problems = campaign.problems(operations)
    crashes = logged_crashes((tmp_path / "server" / "api.log").read_text())
    if crashes:
        problems += [f"server log: {line} ({count}x)" for line, count in crashes.items()]
    # The request shapes this API lives by were all sent, valid and invalid alike.
    predict = [c for c in campaign.cases if c["operation"] == "POST /predict"]
    for mode in ("positive", "negative"):
        for body in ("dict", "list"):
            if not any(c["mode"] == mode and c["body"] == body for c in predict):
                problems.append(f"no {mode} POST /predict case with a {body} body was sent")
        if not any(c["mode"] == mode and "idempotency-key" in c["headers"] for c in predict):
            problems.append(f"no {mode} POST /predict case with an Idempotency-Key was sent")
    assert not problems, campaign.explain(problems, replay_command(name, SEED))

"""docs/api_test_requests.json (Postman collection v2.1) run against a live API: every
request's expected status, error bodies shaped as documented, every endpoint covered."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse

import pytest

from evpm.api.auth import mint_token
from evpm.api.openapi import document
from tests.processes import REPO, ApiProcess

COLLECTION = json.loads((REPO / "docs" / "api_test_requests.json").read_text())
SECRET = "postman-collection-secret-" + "s" * 20


def requests() -> list[dict]:
    """The collection's requests in order (folders flattened)."""
    out, stack = [], list(reversed(COLLECTION["item"]))
    while stack:
        entry = stack.pop()
        if "item" in entry:
            stack.extend(reversed(entry["item"]))
        else:
            out.append(entry)
    return out


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = ApiProcess(tmp_path_factory.mktemp("postman"), secret=SECRET,
                        EVPM_MAX_BATCH_ROWS="5").start()
    yield server
    server.stop()


def test_collection_is_postman_v2_1_and_covers_every_endpoint():
    assert COLLECTION["info"]["schema"].endswith("/collection/v2.1.0/collection.json")
    covered = {(r["request"]["method"], "/" + "/".join(r["request"]["url"]["path"]))
               for r in requests()}
    for path, operations in document()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        for method in operations:
            assert any(m == method.upper() and pattern.match(p) for m, p in covered), \
                (method, path)


def test_every_request_gets_its_expected_status_from_a_live_api(api):
    variables = {"baseUrl": f"http://127.0.0.1:{api.port}",
                 "token": mint_token(SECRET, "postman", days=1)}

    def fill(text: str) -> str:
        return re.sub(r"\{\{(\w+)\}\}", lambda m: variables[m[1]], text)

    failures = []
    for entry in requests():
        request = entry["request"]
        script = "\n".join(line for event in entry["event"] for line in event["script"]["exec"])
        expected = int(re.search(r"have\.status\((\d+)\)", script)[1])
        url = urllib.parse.urlsplit(fill(request["url"]["raw"]))
        headers = {h["key"]: fill(h["value"]) for h in request["header"]}
        body = fill(request["body"]["raw"]).encode() if "body" in request else None
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request(request["method"], url.path + (f"?{url.query}" if url.query else ""),
                     body, headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status != expected:
            failures.append((entry["name"], expected, response.status, payload[:200]))
            continue
        answer = json.loads(payload) if "json" in response.getheader("Content-Type", "") \
            else None
        shaped = isinstance(answer, dict) and isinstance(answer.get("error"), str) \
            and isinstance(answer.get("details"), list)
        if "JSON error with details" in script and not shaped:
            failures.append((entry["name"], "error body", payload[:200]))
        if "duplicate).to.eql(true)" in script and not answer.get("duplicate"):
            failures.append((entry["name"], "not a duplicate", payload[:200]))
    assert not failures, failures

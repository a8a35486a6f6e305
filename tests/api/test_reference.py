"""docs/API_DOCUMENTATION.md is written from the OpenAPI document and must not go stale."""

from evpm.api.openapi import document
from evpm.api.reference import markdown
from tests.conftest import REPO


def test_api_documentation_matches_the_openapi_document():
    assert (REPO / "docs" / "API_DOCUMENTATION.md").read_text() == markdown(), \
        "regenerate: python -m evpm.api.reference > docs/API_DOCUMENTATION.md"


def test_every_endpoint_and_schema_is_documented():
    text = markdown()
    for path, operations in document()["paths"].items():
        for method in operations:
            assert f"### {method.upper()} {path}" in text
    for name in document()["components"]["schemas"]:
        assert f"### {name}" in text

"""The watcher's HTTP client of the model API: POST /predict over one kept-alive connection.

An answer is the API's list of results, or one of two errors the watcher acts on: the API
cannot take the request now (retry later), or it refused it as invalid (fail the file).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

from evpm.errors import EvpmError


class ApiUnavailableError(EvpmError):
    """The API cannot take the request now (down, 5xx, misconfigured): retry later."""


class ApiRejectedError(EvpmError):
    """The API refused the request as invalid (4xx): details per field, `[i].field` in batches."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(f"HTTP {status}: {body.get('error', '')}")
        self.status, self.body = status, body


class ApiClient:
    """POST /predict over one kept-alive HTTP connection."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EvpmError(f"API_URL {url!r} is not an http(s) URL, e.g. "
                            "http://localhost:5000/predict")
        self.url, self.parts, self.timeout_s = url, parts, timeout_s
        self.path = parts.path or "/predict"
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self.parts.scheme == "https" else \
                http.client.HTTPConnection
            self._conn = kind(self.parts.hostname, self.parts.port, timeout=self.timeout_s)
        return self._conn

    def predict(self, rows: list[dict]) -> list[dict]:
        """The API's answers for `rows`, in order; else ApiUnavailableError / ApiRejectedError."""
        body = json.dumps(rows).encode()
        try:
            conn = self._connection()
            conn.request("POST", self.path, body, self.headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ApiUnavailableError(f"API at {self.url} unreachable: {exc}") from None
        status = response.status
        try:
            answer = json.loads(payload) if payload else None
        except ValueError:
            answer = None
        if status == 200 and isinstance(answer, list) and len(answer) == len(rows):
            return answer
        details = answer if isinstance(answer, dict) else {"error": payload[:200].decode(
            errors="replace")}
        if status in (400, 413, 415, 422):
            raise ApiRejectedError(status, details)
        if status in (401, 403):
            raise ApiUnavailableError(f"API refused the watcher's token (HTTP {status}): the API "
                                      "and the watcher need the same EVPM_JWT_SECRET")
        raise ApiUnavailableError(f"API answered HTTP {status}: {details.get('error', '')}")

    def close(self) -> None:
        """Drop the connection (the next call opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

"""Who may see the page: open for the local run; a password (EVPM_DASHBOARD_PASSWORD) or an
OIDC login (`st.login`) when configured; a configuration error, never data, when a login is
required (EVPM_REQUIRE_AUTH) but none is configured."""

from __future__ import annotations

import pytest

from tests.dashboard.apptest import everything

PASSWORD = "c0rrect-hörse battery"  # not ASCII: hmac.compare_digest only takes ASCII str
OIDC = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 40,
        "client_id": "evpm", "client_secret": "x",
        "server_metadata_url": "https://id.example.com/.well-known/openid-configuration"}


def shows_no_data(app) -> bool:
    """Nothing of the fleet: no KPI, table, chart, vehicle id or database detail."""
    shown = everything(app)
    return (not app.metric and not app.dataframe and not app.get("arrow_vega_lite_chart")
            and not app.selectbox and "Vehicles monitored" not in shown
            and "Priority_Maintenance" not in shown and "db.sqlite" not in shown)


def test_without_any_setting_the_page_is_open(page, known):
    app = page(known)
    assert {m.label: m.value for m in app.metric}["Vehicles monitored"] == "3"
    assert not app.text_input


def test_password_asked_before_anything_is_shown(page, known, monkeypatch):
    monkeypatch.setenv("EVPM_DASHBOARD_PASSWORD", PASSWORD)
    app = page(known)
    assert shows_no_data(app) and not app.error
    assert app.text_input(key="password").label == "Password"

    app.text_input(key="password").input("wrong").run()
    assert not app.exception, app.exception
    assert shows_no_data(app)
    assert any("Wrong password" in e.value for e in app.error)

    app.text_input(key="password").input(PASSWORD).run()
    assert not app.exception, app.exception
    assert {m.label: m.value for m in app.metric}["Vehicles monitored"] == "3"
    assert not app.text_input and not any("Wrong password" in e.value for e in app.error)
    # Signed in for this session: later runs (refreshes, filters) need no password.
    app.multiselect(key="status_filter").set_value(["Priority_Maintenance"]).run()
    assert list(app.dataframe[0].value["Vehicle"]) == ["C"]
    # Log out: the password again, no data.
    next(b for b in app.button if b.label == "Log out").click().run()
    assert shows_no_data(app) and app.text_input(key="password")


@pytest.mark.parametrize("switch", ["EVPM_REQUIRE_AUTH", "EVPM_DASHBOARD_REQUIRE_AUTH"])
def test_required_login_without_password_or_oidc_is_a_configuration_error(
        page, known, monkeypatch, switch):
    monkeypatch.setenv(switch, "true")
    app = page(known)
    assert shows_no_data(app) and not app.text_input
    [error] = app.error
    assert "EVPM_DASHBOARD_PASSWORD" in error.value and "secrets.toml" in error.value
    assert "DEPLOYMENT_GUIDE" in error.value


def test_required_login_with_a_password_asks_for_it(page, known, monkeypatch):
    monkeypatch.setenv("EVPM_REQUIRE_AUTH", "true")
    monkeypatch.setenv("EVPM_DASHBOARD_PASSWORD", PASSWORD)
    app = page(known)
    assert shows_no_data(app) and app.text_input(key="password") and not app.error
    app.text_input(key="password").input(PASSWORD).run()
    assert {m.label: m.value for m in app.metric}["Vehicles monitored"] == "3"


@pytest.fixture
def oidc_page(page, known, monkeypatch):
    """A function: the page with an [auth] section in its secrets, as `user`."""
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    monkeypatch.setenv("DATABASE_URL", known)
    # The password is ignored when OIDC is configured.
    monkeypatch.setenv("EVPM_DASHBOARD_PASSWORD", PASSWORD)

    def run(user: dict, auth: dict | None = None) -> AppTest:
        app = AppTest.from_file(APP, default_timeout=60)
        app.secrets["auth"] = auth or OIDC
        app.user = user
        app.run()
        assert not app.exception, app.exception
        return app

    return run


def test_oidc_login_without_authlib_is_a_configuration_error(oidc_page, monkeypatch):
    from evpm.dashboard import access

    monkeypatch.setattr(access, "oidc_available", lambda: False)
    app = oidc_page({"is_logged_in": False})
    assert shows_no_data(app) and "Authlib" in app.error[0].value


def test_oidc_login_button_before_data(oidc_page, monkeypatch):
    from evpm.dashboard import access

    monkeypatch.setattr(access, "oidc_available", lambda: True)
    app = oidc_page({"is_logged_in": False})
    assert shows_no_data(app) and not app.text_input
    assert [b.label for b in app.button] == ["Log in"]
    named = oidc_page({"is_logged_in": False}, {"redirect_uri": OIDC["redirect_uri"],
                                                 "cookie_secret": "s" * 40,
                                                 "google": {"client_id": "x"},
                                                 "okta": {"client_id": "y"}})
    assert [b.label for b in named.button] == ["Log in with google", "Log in with okta"]


def test_oidc_signed_in_user_sees_the_fleet(oidc_page, monkeypatch):
    from evpm.dashboard import access

    monkeypatch.setattr(access, "oidc_available", lambda: True)
    app = oidc_page({"is_logged_in": True, "name": "*Ops*", "email": "ops@example.com"})
    assert {m.label: m.value for m in app.metric}["Vehicles monitored"] == "3"
    assert any(t.value == "Signed in as *Ops*" for t in app.text)  # plain text
    assert "Log out" in [b.label for b in app.button]


def test_an_unreadable_secrets_file_is_a_configuration_error(page, known, monkeypatch):
    import streamlit
    from streamlit.errors import StreamlitSecretNotFoundError

    class Broken(dict):
        def get(self, key, default=None):
            raise StreamlitSecretNotFoundError(
                "Error parsing secrets file at {path}: {error}",
                path="/app/.streamlit/secrets.toml", error="Expected '=' (at line 3)")

    monkeypatch.setattr(streamlit, "secrets", Broken())
    monkeypatch.setenv("EVPM_DASHBOARD_PASSWORD", PASSWORD)  # not a silent fallback to it
    app = page(known)
    assert shows_no_data(app) and not app.text_input
    assert "secrets.toml" in app.error[0].value and "line 3" in app.error[0].value

"""Who may see the dashboard.

In order: an OIDC login (`st.login`) when `.streamlit/secrets.toml` has an `[auth]` section;
else a password when EVPM_DASHBOARD_PASSWORD is set; else, when a login is required
(EVPM_REQUIRE_AUTH or EVPM_DASHBOARD_REQUIRE_AUTH true, as in the container), a configuration
error and nothing else; else the page is open (the local run: `make run` / `evpm up`).

`gate()` runs before anything reads the database: until it returns True the page shows only
the login or the error.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import streamlit as st

from evpm.dashboard.markup import message, plain
from evpm.settings import Settings

_SIGNED_IN = "evpm_password_ok"  # session state: this browser session gave the password
GUIDE = "docs/DEPLOYMENT_GUIDE.md, section “Dashboard access”"


class SecretsUnreadableError(Exception):
    """A secrets.toml exists but cannot be read (its OIDC settings are unknown)."""


def oidc_settings() -> Mapping | None:
    """The `[auth]` section of Streamlit's secrets (OIDC login configured), else None."""
    try:
        section = st.secrets.get("auth")
    except Exception as exc:  # noqa: BLE001 — Streamlit raises one error for both cases
        if "No secrets found" in str(exc):  # no secrets.toml at all: no OIDC
            return None
        # A broken file must not silently fall back to a weaker login (or none).
        raise SecretsUnreadableError(message(exc)) from None
    return section if isinstance(section, Mapping) else None


def oidc_available() -> bool:
    """True if `st.login` can work here: Streamlit has it and Authlib ≥ 1.3.2 is installed."""
    if not hasattr(st, "login"):
        return False
    try:
        from streamlit.auth_util import is_authlib_installed
    except ImportError:
        return False
    return bool(is_authlib_installed())


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison (bytes: hmac.compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _check_password(expected: str) -> None:
    """The password field's callback: remember a match, forget the typed text either way."""
    given = st.session_state.get("password") or ""
    st.session_state[_SIGNED_IN] = bool(expected) and password_matches(given, expected)
    st.session_state["password"] = ""


def _log_out() -> None:
    """The password session's Log out button: the next run asks again."""
    st.session_state.pop(_SIGNED_IN, None)


def _config_error(text: str) -> bool:
    """Show why access is not configured (and nothing else); False: the page stops."""
    st.error(f"**The dashboard is not configured for access.** {text} See {GUIDE}.", icon="🔒")
    return False


def _oidc_gate(section: Mapping) -> bool:
    """OIDC: True once signed in, else Log in buttons (or an error without Authlib)."""
    if not oidc_available():
        return _config_error(
            "An OIDC login is configured (`[auth]` in `.streamlit/secrets.toml`) but the "
            "Authlib package it needs is not installed: `pip install \"streamlit[auth]\"`.")
    if st.user.get("is_logged_in"):
        with st.sidebar:
            who = st.user.get("name") or st.user.get("email") or "unknown user"
            st.text(f"Signed in as {who}")  # plain text: the claim comes from the provider
            st.button("Log out", on_click=st.logout)
        return True
    # Named providers are sub-sections ([auth.google]); without any, [auth] is the provider.
    providers = [name for name, value in section.items() if isinstance(value, Mapping)]
    st.info("Sign in to see the fleet.", icon="🔒")
    if not providers:
        st.button("Log in", on_click=st.login)
    for name in providers:
        st.button(f"Log in with {name}", on_click=st.login, args=(name,), key=f"login_{name}")
    return False


def _password_gate(expected: str) -> bool:
    """Password: True once given in this session, else the field (and a wrong one's error)."""
    if st.session_state.get(_SIGNED_IN):
        with st.sidebar:
            st.button("Log out", on_click=_log_out)
        return True
    # Streamlit's documented "password protect" pattern: the check runs in the field's
    # callback, so the page below never renders before it succeeds.
    st.text_input("Password", type="password", key="password", on_change=_check_password,
                  args=(expected,))
    if st.session_state.get(_SIGNED_IN) is False:
        st.error("Wrong password.", icon="🔒")
    return False


def gate(settings: Settings) -> bool:
    """True if this viewer may see the fleet; otherwise it drew the login or the error."""
    try:
        section = oidc_settings()
    except SecretsUnreadableError as exc:
        return _config_error(f"`.streamlit/secrets.toml` cannot be read: {plain(exc)}.")
    if section is not None:
        return _oidc_gate(section)
    if settings.dashboard_password:
        return _password_gate(settings.dashboard_password)
    if settings.dashboard_require_login:
        return _config_error(
            "A login is required here (EVPM_REQUIRE_AUTH or EVPM_DASHBOARD_REQUIRE_AUTH is "
            "true) but none is set up: set EVPM_DASHBOARD_PASSWORD, or configure an OIDC "
            "login in an `[auth]` section of `.streamlit/secrets.toml`.")
    return True

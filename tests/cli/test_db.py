"""`evpm db init|migrate`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from evpm.cli import app
from evpm.cli.db import db_init, db_migrate
from tests.cli.helpers import one_line_error

runner = CliRunner()


def test_db_init_and_migrate(tmp_path, postgres_url, capsys):
    from evpm.storage import Storage, metadata

    source = f"sqlite:///{tmp_path / 'fleet.db'}"
    db_init(url=source)
    assert "database ready" in capsys.readouterr().out
    target = postgres_url.rsplit("/", 1)[0] + "/evpm_migrate_test"
    metadata.drop_all(Storage(target).engine)
    counts = db_migrate(to=target, source=source)
    assert counts["health_records"] == (0, 0)
    assert "health_records: 0 rows → 0 rows (verified)" in capsys.readouterr().out


def test_db_migrate_bad_input(tmp_path):
    result = runner.invoke(app, ["db", "migrate", "--from", f"sqlite:///{tmp_path}/none.db",
                                 "--to", "postgresql://x@localhost:1/y"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_db_init_takes_the_common_postgres_spelling(postgres_url):
    url = "postgres://" + postgres_url.split("://", 1)[1]
    result = runner.invoke(app, ["db", "init", "--url", url])
    assert result.exit_code == 0, result.output
    assert "database ready" in result.output
    assert ":evpm@" not in result.output and ":***@" in result.output  # password masked


@pytest.mark.parametrize(("url", "text"), [
    ("nonsense", "not supported"), ("mysql://u:secret@h/db", "not supported"),
    ("postgresql://evpm:secret@localhost:1/none", "not usable"),
])
def test_db_init_bad_url_is_one_line(url, text):
    result = runner.invoke(app, ["db", "init", "--url", url])
    one_line_error(result, text)
    assert "secret" not in result.output


def test_db_init_on_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the tables you are looking for\n" * 200)
    one_line_error(runner.invoke(app, ["db", "init", "--url", f"sqlite:///{path}"]),
                   "not a database")


def test_db_upgrade_and_current(tmp_path, capsys):
    from evpm.cli.db import db_current, db_upgrade
    from evpm.schema_migrations import head

    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    assert db_upgrade(url=url) == (None, head())
    assert db_upgrade(url=url) == (head(), head())
    assert db_current(url=url) == head()
    out = capsys.readouterr().out
    assert f"none → {head()}" in out and f"already at {head()}" in out and "up to date" in out


def test_db_current_of_a_missing_file_is_one_line(tmp_path):
    result = runner.invoke(app, ["db", "current", "--url", f"sqlite:///{tmp_path / 'no.db'}"])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "no.db").exists()

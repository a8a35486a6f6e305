"""`evpm profile add|list|show|remove` and `evpm fleet register`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from evpm.cli import app
from evpm.cli.fleet import fleet_register
from evpm.cli.profile import profile_add, profile_list, profile_remove, profile_show
from evpm.profiles import get_profile, read_registry
from tests.cli.helpers import one_line_error

runner = CliRunner()
I3 = ["bmw-i3-60ah", "--chemistry", "nmc", "--cell-ah", "60", "--series", "96", "--parallel",
      "1", "--cell-v-min", "2.5", "--cell-v-max", "4.2"]


def add_i3(**extra) -> dict:
    return profile_add("bmw-i3-60ah", chemistry="nmc", cell_ah=60.0, series=96, parallel=1,
                       cell_v_min=2.5, cell_v_max=4.2, **extra)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    path = tmp_path / "fleet_registry.csv"
    monkeypatch.setenv("EVPM_REGISTRY", str(path))
    return path


def test_add_list_show_remove(profiles_file, registry, capsys):
    added = add_i3(rated_power_kw=125.0, label="2019 BMW i3 120 Ah")
    out = capsys.readouterr().out
    assert "profile bmw-i3-60ah (96s1p, 60 Ah nmc cells, 125.0 kW rated, given)" in out
    assert str(profiles_file) in out and "next request" in out
    assert added["source"] == "user" and added["pack_capacity_ah"] == 60.0
    assert get_profile("bmw-i3-60ah").label == "2019 BMW i3 120 Ah"

    rows = profile_list()
    table = capsys.readouterr().out.splitlines()
    assert [r["name"] for r in rows][-1] == "bmw-i3-60ah" and len(rows) == 6
    assert table[0].split()[:3] == ["name", "source", "kind"]
    assert table[-1].split()[:5] == ["bmw-i3-60ah", "user", "road", "nmc", "96s1p"]
    as_json = profile_list(as_json=True)
    assert json.loads(capsys.readouterr().out) == as_json == rows

    shown = profile_show("bmw-i3-60ah", as_json=True)
    assert json.loads(capsys.readouterr().out) == shown
    assert shown["cells"] == 96 and shown["rated_power_source"] == "given"
    assert shown["nominal_energy_kwh"] == pytest.approx(21.66, abs=0.01)
    profile_show("renault-zoe-ze50")
    assert "2022_Renault_Zoe_ZE50_R135.yaml" in capsys.readouterr().out

    fleet_register("I3A", "bmw-i3-60ah")
    assert "vehicle I3A → profile bmw-i3-60ah (registered)" in capsys.readouterr().out
    one_line_error(runner.invoke(app, ["profile", "remove", "bmw-i3-60ah"]),
                   "still used by 1 vehicle(s)")
    fleet_register("I3A", "renault-zoe-ze50")
    assert "moved from bmw-i3-60ah" in capsys.readouterr().out
    assert profile_remove("bmw-i3-60ah")["name"] == "bmw-i3-60ah"
    assert "removed" in capsys.readouterr().out
    assert json.loads(profiles_file.read_text()) == {"profiles": []}


def test_rated_power_from_the_resistance_or_typical(profiles_file, capsys):
    from_r = add_i3(cell_r_mohm=2.0)
    assert from_r["rated_power_source"] == "from resistance"
    assert "from 2.0 mΩ cells" in capsys.readouterr().out
    assert get_profile("bmw-i3-60ah").cell_r0_ohm == pytest.approx(0.002, rel=1e-5)
    typical = add_i3(replace=True)
    assert typical["rated_power_source"] == "typical"
    assert "from a typical new cell" in capsys.readouterr().out
    assert typical["rated_peak_power_w"] == pytest.approx(80_982, rel=1e-3)


def test_both_ratings_disagreeing_is_a_warning(profiles_file, capsys):
    add_i3(rated_power_kw=500.0, cell_r_mohm=2.0)
    err = capsys.readouterr().err
    assert "warning: --cell-r-mohm 2 implies 128 kW, not 500 kW" in err


def test_the_command_line_as_typed(profiles_file, registry):
    result = runner.invoke(app, ["profile", "add", *I3, "--kind", "road", "--label", "BMW i3"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["profile", "list", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)[-1]["label"] == "BMW i3"
    result = runner.invoke(app, ["fleet", "register", "I3A", "bmw-i3-60ah"])
    assert result.exit_code == 0 and read_registry(registry) == {"I3A": "bmw-i3-60ah"}
    for command in (["profile", "--help"], ["profile", "add", "--help"],
                    ["fleet", "register", "--help"]):
        assert runner.invoke(app, command).exit_code == 0


@pytest.mark.parametrize(("args", "text"), [
    (["profile", "add", *I3[:1], *I3[1:2], "unobtainium", *I3[3:]], "unknown chemistry"),
    (["profile", "add", "BMW", *I3[1:]], "profile name 'BMW' is not allowed"),
    (["profile", "add", "nissan-leaf-30", *I3[1:]], "built in"),
    (["profile", "add", *I3[:6], "0", *I3[7:]], "series must be"),
    (["profile", "add", *I3[:8], "0", *I3[9:]], "parallel must be"),
    (["profile", "add", *I3[:4], "20000", *I3[5:]], "not plausible"),
    (["profile", "add", *I3, "--cell-v-min", "4.5"], "voltage limits"),
    (["profile", "add", *I3, "--rated-power-kw", "-3"], "rated power must be above 0"),
    (["profile", "add", *I3, "--cell-r-mohm", "0"], "cell resistance must be above 0"),
    (["profile", "add", *I3, "--kind", "sea"], "unknown kind 'sea'"),
    (["profile", "show", "nope"], "unknown profile 'nope'"),
    (["profile", "remove", "renault-zoe-ze50"], "built in and cannot be removed"),
    (["profile", "remove", "nope"], "unknown user profile 'nope'"),
    (["fleet", "register", "I3A", "nope"], "unknown profile 'nope'"),
    (["fleet", "register", "../x", "renault-zoe-ze50"], "vehicle id '../x' is not allowed"),
])
def test_bad_input_is_one_line(profiles_file, registry, args, text):
    one_line_error(runner.invoke(app, args), text)
    assert not profiles_file.exists() or "bmw" not in profiles_file.read_text()


def test_adding_twice_needs_replace(profiles_file):
    assert runner.invoke(app, ["profile", "add", *I3]).exit_code == 0
    one_line_error(runner.invoke(app, ["profile", "add", *I3]), "add --replace to overwrite")
    result = runner.invoke(app, ["profile", "add", *I3, "--parallel", "2", "--replace"])
    assert result.exit_code == 0 and get_profile("bmw-i3-60ah").parallel == 2


@pytest.mark.parametrize("command", [["profile", "list"], ["profile", "show", "bmw-i3-60ah"],
                                     ["profile", "add", *I3], ["profile", "remove", "x"],
                                     ["fleet", "register", "I3A", "renault-zoe-ze50"]])
def test_a_broken_profiles_file_is_a_one_line_error(profiles_file, registry, command):
    profiles_file.write_text('{"profiles": [{"name": "x"')
    one_line_error(runner.invoke(app, command), f"profiles file {profiles_file} is not valid")
    assert profiles_file.read_text() == '{"profiles": [{"name": "x"'  # left for its owner


def test_profiles_file_option_beats_the_environment(profiles_file, tmp_path):
    other = tmp_path / "elsewhere" / "profiles.json"
    result = runner.invoke(app, ["profile", "add", *I3, "--profiles-file", str(other)])
    assert result.exit_code == 0, result.output
    assert other.is_file() and not profiles_file.exists()

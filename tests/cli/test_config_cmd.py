"""`organism config --toml / --explain`: TOML that --config accepts back, and where each value
came from (settings.load_config's origin_out)."""

from __future__ import annotations

import tomllib

import agents.sections  # noqa: F401  (every table registered)
from organism.cli.config_cmd import to_toml
from settings import DEFAULT_FILE, load_config, to_toml_dict


def test_origin_out_names_the_layer_of_each_key(tmp_path):
    user = tmp_path / "mine.toml"
    user.write_text("[heartbeat]\ninterval_s = 7.5\n")
    origin: dict[str, str] = {}
    config = load_config(user, env={"ORGANISM__NATS__PORT": "4333"}, origin_out=origin)
    assert config.heartbeat.interval_s == 7.5 and config.nats.port == 4333
    assert origin["heartbeat.interval_s"] == str(user)
    assert origin["nats.port"] == "environment variable ORGANISM__NATS__PORT"
    assert origin["nats.host"] == str(DEFAULT_FILE)
    bare: dict[str, str] = {}
    load_config(None, env={}, default_file=None, origin_out=bare)
    assert bare == {}  # nothing set by a layer: every value is a built-in default


def test_toml_round_trips_through_load_config(tmp_path):
    config = load_config(None, env={"ORGANISM__NATS__PORT": "4333"})
    text = "\n".join(to_toml(to_toml_dict(config)))
    tomllib.loads(text)  # valid TOML
    path = tmp_path / "effective.toml"
    path.write_text(text)
    assert load_config(path, env={}) == config


def test_explain_marks_every_key(tmp_path):
    origin: dict[str, str] = {}
    config = load_config(None, env={}, origin_out=origin)
    lines = [ln for ln in to_toml(to_toml_dict(config), origin)
             if ln and not ln.startswith(("[", "#"))]
    assert lines and all("  # " in ln for ln in lines if " = " in ln and not ln.endswith("}"))

from __future__ import annotations

import pytest

from settings import (
    DEFAULT_FILE,
    default_config,
    ConfigError,
    Secret,
    load_config,
    load_secrets,
    mask,
)


def test_default_file_states_exactly_the_built_in_defaults():
    """deploy/organism.toml documents the defaults; it must not drift from the structs."""
    assert DEFAULT_FILE.exists()
    assert load_config(env={}) == default_config()


def test_layers_file_then_environment(tmp_path):
    f = tmp_path / "my.toml"
    f.write_text('[nats]\nport = 4333\n[market]\ncoins = ["SOL"]\n')
    cfg = load_config(f, env={"ORGANISM__NATS__PORT": "4444", "ORGANISM__HEARTBEAT__INTERVAL_S": "0.5"})
    assert cfg.nats.port == 4444
    assert cfg.market.coins == ["SOL"]
    assert cfg.heartbeat.interval_s == 0.5
    assert cfg.nats.host == "127.0.0.1"


def test_env_strings_need_no_quotes():
    cfg = load_config(env={"ORGANISM__NATS__URL": "nats://10.0.0.1:4222"}, default_file=None)
    assert cfg.nats.url == "nats://10.0.0.1:4222"


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"ORGANISM__NATS__PORT": "abc"},
         "bad value for config key nats.port = 'abc' (from environment variable ORGANISM__NATS__PORT): Expected `int`, got `str`"),
        ({"ORGANISM__NATS__PORT": "70000"}, "nats.port = 70000"),
        ({"ORGANISM__NATS__PORTT": "1"},
         "unknown config key nats.portt (from environment variable ORGANISM__NATS__PORTT); allowed keys here: url, host, port"),
        ({"ORGANISM__CLOCK__SOURCE": "moon"}, "allowed: 'wall' | 'replay'"),
        ({"ORGANISM__MARKET__INTERVALS": '["1h", "7h"]'}, "market.intervals[1] = '7h'"),
        ({"ORGANISM__BOGUS__X": "1"}, "unknown config key bogus"),
        ({"ORGANISM__NATS": "1"}, "does not name a config key"),
        ({"ORGANISM__VENUE__SECRET_KEY": "0xabc"}, "secrets are read only from the environment"),
    ],
)
def test_bad_config_names_the_key_the_value_and_what_is_allowed(env, expected):
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    assert expected in str(err.value)


def test_bad_file_names_the_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[nats]\nport = 'x'\n")
    with pytest.raises(ConfigError, match=f"from {f}"):
        load_config(f, env={})
    f.write_text("[nats\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(f, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env={})


def test_secrets_come_from_the_environment_and_print_masked():
    key = "0x" + "ab" * 32
    secrets = load_secrets({"ORGANISM_SECRET_KEY": key})
    assert secrets.secret_key.reveal() == key
    for text in (repr(secrets), str(secrets), repr(secrets.secret_key), f"{secrets.secret_key}"):
        assert key not in text
    assert mask(f"signing with {key} failed", secrets) == "signing with ******** failed"
    assert load_secrets({}).secret_key is None


def test_a_secret_cannot_be_pickled():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret("x" * 10))


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"ORGANISM__VENUE__NETWORK": "testnet"},
         "venue.network was split when paper and live accounts arrived: set venue.market_data"),
        ({"ORGANISM__VENUE__ACCOUNT_ADDRESS": '"0x' + "1" * 40 + '"'},
         "venue.account_address moved to venue.live.account_address"),
        ({"ORGANISM__VENUE__LIVE__NETWORK": "mainnet",
          "ORGANISM__VENUE__LIVE__ACCOUNT_ADDRESS": '"0x' + "1" * 40 + '"'},
         "set venue.live.confirm_mainnet = true"),
        ({"ORGANISM__VENUE__LIVE__NETWORK": "mainnet", "ORGANISM__VENUE__LIVE__CONFIRM_MAINNET": "true"},
         "needs venue.live.account_address"),
        ({"ORGANISM__VENUE__PAPER__NETWORK": "mainnet"}, "the paper account never trades mainnet"),
        ({"ORGANISM__VENUE__PAPER__CAPITAL_USDC": '"-5"'}, "capital_usdc must be > 0 USDC"),
        ({"ORGANISM__VENUE__LIVE__ACCOUNT_ADDRESS": '"alice"'}, "venue.live.account_address = 'alice'"),
    ],
)
def test_venue_table_refuses_old_keys_and_unconfirmed_mainnet(env, expected):
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    assert expected in str(err.value)


def test_venue_defaults_keep_everything_on_the_local_exchange():
    venue = load_config(env={}).venue
    assert (venue.market_data, venue.paper.network, venue.live.network) == ("sim", "sim", "sim")
    assert venue.uses_sim and venue.url("sim") == f"http://{venue.sim.host}:{venue.sim.port}"
    live = load_config(env={"ORGANISM__VENUE__LIVE__NETWORK": "mainnet",
                            "ORGANISM__VENUE__LIVE__CONFIRM_MAINNET": "true",
                            "ORGANISM__VENUE__LIVE__ACCOUNT_ADDRESS": '"0x' + "1" * 40 + '"'}).venue
    assert live.url(live.live.network) == "https://api.hyperliquid.xyz"

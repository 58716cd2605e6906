from __future__ import annotations

from pathlib import Path

import pytest

from adapters.config import ConfigError, load_config, parse_config

EXAMPLE = """
[commerce]
url = "http://127.0.0.1:8000"
key = "ck_integration"

[listen]
host = "127.0.0.1"
port = 8710

[state]
dir = "adapter-state"

[shopify]
shop_url = "https://example.myshopify.com"
access_token = "shpat_x"
webhook_secret = "s3cret"
[shopify.locations]
"CHI-LOOP" = "gid://shopify/Location/1"
"""


def test_the_documented_example_loads_and_state_dir_is_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shopify.toml"
    path.write_text(EXAMPLE)
    config = load_config(path, "shopify")
    assert config.require_shopify().locations == {"CHI-LOOP": "gid://shopify/Location/1"}
    assert config.listen.port == 8710
    assert config.state_dir == tmp_path / "adapter-state"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (EXAMPLE.replace('key = "ck_integration"', ""), "missing required field `key`"),
        (EXAMPLE.replace("port = 8710", 'port = "x"'), "$.listen.port"),
        (EXAMPLE.replace("port = 8710", "port = 70000"), "$.listen.port"),
        (EXAMPLE.replace('url = "http://127.0.0.1:8000"', 'url = "127.0.0.1:8000"'), "commerce.url"),
        (EXAMPLE.replace('"CHI-LOOP" = "gid://shopify/Location/1"', ""), "maps no store code"),
        (EXAMPLE + '"CHI-RN" = "gid://shopify/Location/1"\n', "maps both"),
        (EXAMPLE.split("[shopify]")[0], "[shopify] section is missing"),
        ("[commerce", "not valid TOML"),
    ],
)
def test_bad_configs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.toml", "shopify")
    assert message in str(info.value)
    assert str(info.value).startswith("cfg.toml:")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")

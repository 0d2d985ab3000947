"""The pure parts of the security fixes: run id rules, DAG source masking, JSON depth counting, token
lifetimes and the login throttle."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from dockyard.connections import load_fernet
from dockyard.errors import ConfigError, InvalidRunIdError, TooManyAttemptsError
from dockyard.runids import MAX_RUN_ID_LENGTH, check_run_id
from dockyard.settings import Settings
from dockyard.users import parse_lifetime
from dockyard.web.limits import bad_string, json_depth_exceeds
from dockyard.web.security import LoginThrottle
from dockyard.web.source import mask_source


@pytest.mark.parametrize(
    "run_id",
    [
        "manual__2024-01-31T00:00:00+00:00",
        "scheduled__2024-01-31T00:00:00.123456+00:00",
        "test__2024-01-31T00:00:00-05:00",
        "nightly_v1.2~rc",
        "x" * MAX_RUN_ID_LENGTH,
    ],
)
def test_run_ids_dockyard_and_airflow_make_are_allowed(run_id: str) -> None:
    assert check_run_id(run_id) == run_id


@pytest.mark.parametrize(
    "run_id", ["a b", "a\nb", "a\x00", "<b>", "a'b", 'a"b', "a/b", "/a", "..", "a..b", "é", "", "x" * 251, 5]
)
def test_run_ids_that_could_break_a_path_header_or_page_are_refused(run_id: object) -> None:
    with pytest.raises(InvalidRunIdError, match="letters, digits and - _ . ~ : +"):
        check_run_id(run_id)


def test_private_environment_and_sensitive_names_are_masked_in_source() -> None:
    source = """
API_TOKEN = "tok-1"
settings.password = "pw-2"
op = DockerOperator(
    task_id="t",
    private_environment={"MY_TOKEN": "canary-3", "PLAIN_NAME": f"x{1}y"},
    environment={"DB_PASSWORD": "pw-4", "REGION": "eu-west-1"},
    docker_conn_id="registry",
    password=("multi"
              "line-5"),
)
other = {"secret": ["in", "list-6"], "name": "kept"}
"""
    masked = mask_source(source)
    for secret in ("tok-1", "pw-2", "canary-3", "pw-4", "line-5", "list-6", "x{1}y"):
        assert secret not in masked
    for kept in ("MY_TOKEN", "PLAIN_NAME", "eu-west-1", "registry", "kept", 'task_id="t"'):
        assert kept in masked
    assert masked.count("\n") < source.count("\n")  # the multi-line literal became one
    compile(masked, "masked", "exec")  # still Python


def test_source_that_does_not_parse_is_masked_line_by_line() -> None:
    masked = mask_source('def broken(:\nAPI_KEY = "k-1"\nconfig = {"password": "p-2"}\nname = "kept"')
    assert "k-1" not in masked and "p-2" not in masked and "kept" in masked


def test_json_depth_is_counted_on_the_raw_text() -> None:
    deep = json.dumps({"a": [[[[1]]]]}).encode()
    assert json_depth_exceeds(deep, 4) and not json_depth_exceeds(deep, 5)
    assert not json_depth_exceeds(json.dumps({"s": "[[[[[[[[\\"}).encode(), 2)
    assert json_depth_exceeds(b"[" * 900 + b"]" * 900, 64)


def test_strings_with_nul_or_surrogates_are_found_in_keys_and_values() -> None:
    assert bad_string({"a": ["ok", {"b": "x\x00"}]}) is not None
    assert bad_string({"\ud800": 1}) is not None
    assert bad_string({"a": ["ok", 1, None, {"b": "fine ✓"}]}) is None


def test_token_lifetimes() -> None:
    assert parse_lifetime("90d") == dt.timedelta(days=90)
    assert parse_lifetime("12h") == dt.timedelta(hours=12)
    assert parse_lifetime("30m") == dt.timedelta(minutes=30)
    assert parse_lifetime("never") is None
    for bad in ("0d", "soon", "1y", "-1d"):
        with pytest.raises(ConfigError, match="90d, 12h, 30m or never"):
            parse_lifetime(bad)


def test_the_throttle_counts_per_account_and_address() -> None:
    throttle = LoginThrottle(per_account=2, per_address=3, window=60)
    throttle.failed("ann", "10.0.0.1")
    throttle.check("ann", "10.0.0.1")
    throttle.failed("ann", "10.0.0.1")
    with pytest.raises(TooManyAttemptsError) as caught:
        throttle.check("ann", "10.0.0.2")
    assert 1 <= caught.value.retry_after <= 61
    throttle.check("bob", "10.0.0.2")
    throttle.failed("bob", "10.0.0.1")
    with pytest.raises(TooManyAttemptsError, match="address 10.0.0.1"):
        throttle.check("carl", "10.0.0.1")
    throttle.succeeded("ann")
    throttle.check("ann", "10.0.0.2")
    unlimited = LoginThrottle(per_account=0, per_address=0)
    for _ in range(50):
        unlimited.failed("ann", "a")
    unlimited.check("ann", "a")


def test_security_settings_come_from_the_environment(tmp_path: Path) -> None:
    base = {"DOCKYARD_HOME": str(tmp_path)}
    default = Settings.from_env(base)
    assert not default.secure_cookies and default.api_token_expire_days == 90 and default.max_json_depth == 64
    https = Settings.from_env({**base, "DOCKYARD_BASE_URL": "https://ops.example.com/"})
    assert https.secure_cookies and https.base_url == "https://ops.example.com"
    with pytest.raises(ConfigError, match="DOCKYARD_SECURE_COOKIES='maybe' is not true or false"):
        Settings.from_env({**base, "DOCKYARD_SECURE_COOKIES": "maybe"})
    with pytest.raises(ConfigError, match="DOCKYARD_PASSWORD_HASH_CONCURRENCY"):
        Settings.from_env({**base, "DOCKYARD_PASSWORD_HASH_CONCURRENCY": "0"})


def test_the_fernet_key_can_live_in_a_file_outside_the_home(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    key_file = tmp_path / "mounted" / "fernet"
    key_file.parent.mkdir()
    key_file.write_text(key + "\n")
    home = tmp_path / "home"
    settings = Settings.from_env({"DOCKYARD_HOME": str(home), "DOCKYARD_FERNET_KEY_FILE": str(key_file)})
    token = load_fernet(settings.home, settings.fernet_key).encrypt(b"x")
    assert Fernet(key.encode()).decrypt(token) == b"x"
    assert not (home / "fernet.key").exists()
    with pytest.raises(ConfigError, match="DOCKYARD_FERNET_KEY_FILE=.* cannot be read"):
        Settings.from_env({"DOCKYARD_HOME": str(home), "DOCKYARD_FERNET_KEY_FILE": str(tmp_path / "missing")})
    key_file.write_text("not-a-key")
    settings = Settings.from_env({"DOCKYARD_HOME": str(home), "DOCKYARD_FERNET_KEY_FILE": str(key_file)})
    with pytest.raises(ConfigError, match="DOCKYARD_FERNET_KEY_FILE names.* is not a Fernet key"):
        load_fernet(settings.home, settings.fernet_key)

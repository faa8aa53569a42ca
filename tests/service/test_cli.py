"""`fleet user add`, `fleet token create`, settings from file and environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet.cli import main
from fleet.config import ConfigError, load_settings
from fleet.security import Accounts
from fleet.store import Store


def test_user_and_token_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    assert main(["user", "add", "bob", "--role", "dispatcher", "--password", "a-long-password", "--db-url", db]) == 0
    assert main(["user", "add", "bob", "--role", "viewer", "--password", "a-long-password", "--db-url", db]) == 1
    assert main(["user", "add", "eve", "--role", "viewer", "--password", "short", "--db-url", db]) == 1
    capsys.readouterr()
    assert main(["token", "create", "--role", "wms", "--label", "erp", "--db-url", db]) == 0
    made = json.loads(capsys.readouterr().out)
    accounts = Accounts(Store(db))
    assert accounts.resolve(made["token"]).role == "wms"
    assert accounts.login("bob", "a-long-password", 60)[1] == "dispatcher"
    assert main(["token", "revoke", made["id"], "--db-url", db]) == 0
    assert Accounts(Store(db)).resolve(made["token"]) is None


def test_settings_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "fleet.yaml"
    cfg.write_text("port: 9000\ndb_url: sqlite:///x.db\ncors_origins: [https://ui.example]\n")
    s = load_settings(cfg, env={"FLEET_PORT": "9100", "FLEET_CORS_ORIGINS": "https://a,https://b"})
    assert s.port == 9100 and s.db_url == "sqlite:///x.db" and s.cors_origins == ["https://a", "https://b"]
    with pytest.raises(ConfigError, match="port"):
        load_settings(cfg, env={"FLEET_PORT": "lots"})
    cfg.write_text("no_such_setting: 1\n")
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_settings(cfg, env={})

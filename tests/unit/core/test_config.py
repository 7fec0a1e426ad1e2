"""Shard settings come through the typed config: a bad value fails at start-up, by name."""

from __future__ import annotations

import pytest

from core.config import ConfigError, Settings


def test_shard_settings_default_and_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROGRESS_FLUSH_S", "PROGRESS_PERSIST_S", "PROGRESS_WRITE_THROUGH"):
        monkeypatch.delenv(name, raising=False)
    shards = Settings.from_env().shards
    assert (shards.flush_s, shards.persist_s, shards.write_through) == (3.0, 120.0, False)
    monkeypatch.setenv("PROGRESS_FLUSH_S", "0.5")
    monkeypatch.setenv("PROGRESS_WRITE_THROUGH", "1")
    shards = Settings.from_env().shards
    assert shards.flush_s == 0.5 and shards.write_through


@pytest.mark.parametrize("value", ["soon", "0", "-1"])
def test_a_bad_flush_interval_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PROGRESS_FLUSH_S", value)
    with pytest.raises(ConfigError, match="PROGRESS_FLUSH_S"):
        Settings.from_env()

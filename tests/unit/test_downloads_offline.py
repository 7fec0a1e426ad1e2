"""Offline manifests (one rendition), download license tokens and the download metrics hook."""

from __future__ import annotations

import pytest

from api.downloads.views import metric_event
from core import signing
from core.config import ConfigError, Settings
from media.origin import offline_mpd

MPD = """<MPD>
  <Period id="0">
    <AdaptationSet id="1" contentType="video">
      <Representation id="0" mimeType="video/mp4" width="320" height="180">
        <SegmentTemplate initialization="v180/init.mp4" media="v180/$Number$.m4s"/>
      </Representation>
      <Representation id="1" mimeType="video/mp4" width="960" height="540">
        <SegmentTemplate initialization="v540/init.mp4" media="v540/$Number$.m4s"/>
      </Representation>
      <Representation id="2" mimeType="video/mp4" width="640" height="360">
        <SegmentTemplate initialization="v360/init.mp4" media="v360/$Number$.m4s"/>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="0" contentType="audio">
      <Representation id="3" mimeType="audio/mp4">
        <SegmentTemplate initialization="audio/init.mp4" media="audio/$Number$.m4s"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def test_offline_manifest_keeps_one_video_rendition_and_the_audio() -> None:
    high = offline_mpd(MPD, "high")
    assert "v540/init.mp4" in high and "v180" not in high and "v360" not in high
    assert "audio/init.mp4" in high and high.count("<Representation") == 2
    assert '      <Representation id="1"' in high  # indentation kept
    low = offline_mpd(MPD, "low")
    assert "v180/init.mp4" in low and "v540" not in low and low.count("<Representation") == 2


def test_a_single_rendition_manifest_is_unchanged() -> None:
    one = offline_mpd(MPD, "high")
    assert offline_mpd(one, "low") == one


def test_download_license_tokens_name_their_download_and_bind_the_account() -> None:
    key = bytes(32)
    token = signing.download_license_token(key, "dl_abc", "acct_1")
    assert signing.download_of(token) == "dl_abc"
    assert token != signing.download_license_token(key, "dl_abc", "acct_2")
    assert signing.download_of(signing.license_token(key, "ps_1", "acct_1")) is None
    assert signing.download_of("lt_ps_1.abc") is None
    assert signing.is_download("dl_abc") and not signing.is_download("ps_abc")


def test_metric_events_of_download_routes() -> None:
    assert metric_event("/v1/downloads", "POST", 201, "") == ("grant", "ok")
    assert metric_event("/v1/downloads", "POST", 409, "DOWNLOAD_LIMIT_REACHED") == (
        "grant",
        "DOWNLOAD_LIMIT_REACHED",
    )
    assert metric_event("/v1/downloads/{download_id}/renew", "POST", 200, "") == ("renew", "ok")
    assert metric_event("/v1/downloads/{download_id}", "DELETE", 204, "") == ("revoke", "ok")
    assert metric_event("/v1/downloads", "GET", 200, "") is None
    assert metric_event("/v1/playback/sessions", "POST", 201, "") is None


def test_download_settings_defaults_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DOWNLOAD_LICENSE_TTL_S",
        "DOWNLOAD_DEVICES_BASIC",
        "DOWNLOAD_DEVICES_STANDARD",
        "DOWNLOAD_DEVICES_PREMIUM",
        "DOWNLOADS_PER_DEVICE",
        "DOWNLOAD_RENEWALS",
    ):
        monkeypatch.delenv(name, raising=False)
    downloads = Settings.from_env().downloads
    assert downloads.license_ttl_s == 86400 and downloads.per_device == 100
    assert downloads.devices == {"basic": 1, "standard": 2, "premium": 6}
    assert downloads.renewals == 3
    monkeypatch.setenv("DOWNLOAD_DEVICES_BASIC", "0")
    with pytest.raises(ConfigError):
        Settings.from_env()
    monkeypatch.setenv("DOWNLOAD_DEVICES_BASIC", "one")
    with pytest.raises(ConfigError):
        Settings.from_env()

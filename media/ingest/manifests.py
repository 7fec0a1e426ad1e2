"""Which files a packaged asset's manifests point at, so publishing can check they all exist.

Covers what Shaka Packager and the thumbnail stage write: DASH SegmentTemplate with a
SegmentTimeline or a fixed duration ($Number$, $Time$, $RepresentationID$, $Bandwidth$), plus
BaseURL files; HLS master → media playlists → segments and EXT-X-MAP init segments.
"""

from __future__ import annotations

import math
import posixpath
import re
import xml.etree.ElementTree as ET

_NS = {"mpd": "urn:mpeg:dash:schema:mpd:2011"}
_DURATION = re.compile(r"PT(?:(?P<h>[\d.]+)H)?(?:(?P<m>[\d.]+)M)?(?:(?P<s>[\d.]+)S)?")
_TEMPLATE_VAR = re.compile(r"\$(Number|Time|RepresentationID|Bandwidth)(%0(\d+)d)?\$")
_HLS_URI = re.compile(r'URI="([^"]+)"')


def _seconds(iso: str | None) -> float:
    match = _DURATION.fullmatch(iso or "")
    if not match:
        return 0.0
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    return parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


def _fill(template: str, values: dict[str, str | int]) -> str:
    def one(match: re.Match[str]) -> str:
        value = values[match[1]]
        width = match[3]
        return f"{int(value):0{width}d}" if width else str(value)

    return _TEMPLATE_VAR.sub(one, template)


def _segment_times(template: ET.Element, period_s: float) -> list[tuple[int, int]]:
    """(number, time) of every segment of a SegmentTemplate."""
    start = int(template.get("startNumber", "1"))
    timeline = template.find("mpd:SegmentTimeline", _NS)
    if timeline is None:
        duration = int(template.get("duration", "0"))
        timescale = int(template.get("timescale", "1"))
        count = math.ceil(period_s * timescale / duration) if duration else 0
        return [(start + i, i * duration) for i in range(count)]
    segments: list[tuple[int, int]] = []
    time = 0
    for entry in timeline.findall("mpd:S", _NS):
        time = int(entry.get("t", time))
        length = int(entry.get("d", "0"))
        for _ in range(int(entry.get("r", "0")) + 1):
            segments.append((start + len(segments), time))
            time += length
    return segments


def dash_references(mpd: str) -> set[str]:
    """Paths (relative to the MPD) of every file the DASH manifest references."""
    root = ET.fromstring(mpd)
    period_s = _seconds(root.get("mediaPresentationDuration"))
    files: set[str] = set()
    for adaptation in root.iter(f"{{{_NS['mpd']}}}AdaptationSet"):
        shared = adaptation.find("mpd:SegmentTemplate", _NS)
        for rep in adaptation.findall("mpd:Representation", _NS):
            values: dict[str, str | int] = {
                "RepresentationID": rep.get("id", ""),
                "Bandwidth": rep.get("bandwidth", "0"),
            }
            for base in rep.findall("mpd:BaseURL", _NS):
                if base.text:
                    files.add(base.text.strip())
            template = rep.find("mpd:SegmentTemplate", _NS)
            template = template if template is not None else shared
            if template is None:
                continue
            if init := template.get("initialization"):
                files.add(_fill(init, values))
            if media := template.get("media"):
                for number, time in _segment_times(template, period_s):
                    files.add(_fill(media, {**values, "Number": number, "Time": time}))
    return files


def hls_references(read: dict[str, str], master: str) -> set[str]:
    """Paths (relative to the master playlist's folder) of every playlist and file HLS needs.
    ``read`` maps each playlist path to its text (the master's variants must be in it)."""
    files: set[str] = set()
    for playlist in _uris(read[master]):
        files.add(playlist)
        if not playlist.endswith(".m3u8"):
            continue
        folder = posixpath.dirname(playlist)
        for uri in _uris(read[playlist]):
            files.add(posixpath.normpath(posixpath.join(folder, uri)))
    return files


def hls_playlists(master_text: str) -> list[str]:
    return [uri for uri in _uris(master_text) if uri.endswith(".m3u8")]


def _uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            uris.extend(_HLS_URI.findall(line))
        else:
            uris.append(line)
    return [uri for uri in uris if not uri.startswith(("data:", "skd:"))]

// Playback: Shaka Player on a <video>, Clear Key through our license server, and the player's
// real events reported to the service (QoE events, progress heartbeats, stop).
//
// The license request is the browser's own W3C Clear Key request, sent unchanged as the body
// of POST /v1/drm/licenses?session_id=… with the bearer and the session's license token in
// headers (the "raw" form); the answer is the JWK set the CDM takes. No key is ever in the page.

import { api, session as auth } from "./api.js";

const shaka = window.shaka;

// Shaka's error codes a viewer may see, in words.
const SHAKA_ERRORS = {
  1001: "The server refused a request",
  1002: "The network failed",
  6001: "This browser has no Clear Key support",
  6007: "The license was refused",
  6010: "The content could not be decrypted",
  3016: "The video could not be decoded",
};

function now() { return Date.now(); }

function clockOf(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// The service's error envelope inside a Shaka error, when a request of ours failed.
function serviceErrorOf(error) {
  const seen = new Set();
  const stack = [error];
  while (stack.length) {
    const item = stack.pop();
    if (!item || typeof item !== "object" || seen.has(item)) continue;
    seen.add(item);
    if (item.code === 1001 && Array.isArray(item.data)) {
      // BAD_HTTP_STATUS: [uri, status, responseText, headers, requestType, ...]
      try {
        const body = JSON.parse(item.data[2]);
        if (body && body.error) return { status: item.data[1], ...body.error };
      } catch { /* not ours */ }
      return { status: item.data[1], code: "HTTP_" + item.data[1], message: "HTTP " + item.data[1] };
    }
    for (const value of Array.isArray(item.data) ? item.data : []) stack.push(value);
  }
  return null;
}

export function describeShakaError(error) {
  const service = serviceErrorOf(error);
  const what = SHAKA_ERRORS[error.code] || "Playback failed";
  return {
    code: service ? service.code : "PLAYER_" + error.code,
    message: service ? `${what}: ${service.message}` : `${what} (Shaka error ${error.code})`,
    shakaCode: error.code,
  };
}

export class Playback {
  // started: the body of POST /v1/playback/sessions.
  constructor(video, started, { onError, onStatus } = {}) {
    this.video = video;
    this.started = started;
    this.onError = onError || (() => {});
    this.onStatus = onStatus || (() => {});
    this.player = null;
    this.timer = null;
    this.loadStartedAt = 0;
    this.firstPlay = true;
    this.closed = false;
    this.sent = { events: 0, progress: 0 };
    this.lastError = null;
    this.handlers = [];
  }

  // Fire and forget, counted: the page never blocks playback on telemetry.
  report(event, metrics = {}) {
    const body = { session_id: this.started.session_id, ts_ms: now(), event, metrics: this.metrics(metrics) };
    return api.event(body).then(
      () => { this.sent.events += 1; },
      (error) => console.warn("event not recorded", event, error.code || error),
    );
  }

  heartbeatProgress(state) {
    const position_ms = Math.floor((this.video.currentTime || 0) * 1000);
    const body = {
      title_id: this.started.title_id,
      asset_id: this.started.asset_id,
      position_ms,
      state,
      ts_ms: now(),
      session_id: this.started.session_id,
    };
    return api.progress(this.started.profile_id, body).then(
      () => { this.sent.progress += 1; },
      (error) => console.warn("progress not recorded", error.code || error),
    );
  }

  metrics(extra) {
    const out = { position_ms: Math.floor((this.video.currentTime || 0) * 1000), ...extra };
    if (this.player) {
      const stats = this.player.getStats();
      if (Number.isFinite(stats.streamBandwidth) && stats.streamBandwidth > 0) {
        out.bitrate_kbps = Math.round(stats.streamBandwidth / 1000);
      }
      if (Number.isFinite(stats.droppedFrames) && stats.droppedFrames >= 0) {
        out.dropped_frames = Math.round(stats.droppedFrames);
      }
      const buffered = this.player.getBufferedInfo().total;
      const ahead = buffered.length ? buffered[buffered.length - 1].end - this.video.currentTime : 0;
      out.buffer_ms = Math.max(0, Math.round(ahead * 1000));
    }
    return out;
  }

  // One line for the viewer: where playback is, at what quality, and what was reported.
  summary() {
    const video = this.video;
    const quality = video.getVideoPlaybackQuality();
    const stats = this.player ? this.player.getStats() : {};
    const parts = [
      `${clockOf(video.currentTime)} / ${clockOf(video.duration || 0)}`,
      video.videoWidth ? `${video.videoWidth}×${video.videoHeight}` : null,
      stats.streamBandwidth ? `${(stats.streamBandwidth / 1e6).toFixed(1)} Mb/s` : null,
      `${quality.totalVideoFrames} frames decoded`,
      `${this.sent.events} events · ${this.sent.progress} heartbeats sent`,
      `session ${this.started.session_id}`,
    ];
    return parts.filter(Boolean).join(" · ");
  }

  listen(target, name, handler) {
    target.addEventListener(name, handler);
    this.handlers.push([target, name, handler]);
  }

  async start() {
    if (!shaka) throw new Error("Shaka Player did not load");
    shaka.polyfill.installAll();
    if (!shaka.Player.isBrowserSupported()) {
      throw { code: "BROWSER_UNSUPPORTED", message: "This browser cannot play DASH with Media Source Extensions" };
    }
    const player = (this.player = new shaka.Player());
    await player.attach(this.video);
    const { drm, manifest, session_id } = this.started;
    const licenseUrl = new URL(drm.license_server_url, window.location.origin);
    licenseUrl.searchParams.set("session_id", session_id);
    player.configure({
      drm: {
        servers: { [drm.key_system]: licenseUrl.toString() },
        retryParameters: { maxAttempts: 1 },
      },
    });
    player.getNetworkingEngine().registerRequestFilter((type, request) => {
      if (type !== shaka.net.NetworkingEngine.RequestType.LICENSE) return;
      request.headers["Authorization"] = "Bearer " + auth.accessToken;
      request.headers["X-License-Token"] = drm.license_token;
      request.headers["Content-Type"] = "application/json";
    });

    this.listen(player, "error", (event) => this.failed(event.detail));
    this.listen(player, "buffering", (event) => {
      if (!this.firstPlay) this.report(event.buffering ? "rebuffer_start" : "rebuffer_end");
    });
    this.listen(player, "adaptation", () => this.report("bitrate_change"));
    this.listen(this.video, "playing", () => {
      if (this.firstPlay) {
        this.firstPlay = false;
        this.report("start", { startup_ms: now() - this.loadStartedAt });
        this.report("play");
        this.onStatus("playing");
      } else {
        this.report("resume");
      }
    });
    this.listen(this.video, "pause", () => {
      if (this.video.ended || this.closed) return;
      this.report("pause");
      this.heartbeatProgress("paused");
    });
    this.listen(this.video, "seeked", () => this.report("seek"));
    this.listen(this.video, "ended", () => {
      this.report("end");
      this.heartbeatProgress("finished");
    });

    // At the session's heartbeat interval, and never so rarely that the lease runs out between
    // two heartbeats (a server configured with a short lease).
    const interval = this.started.heartbeat_interval_sec || 10;
    const lease = this.started.lease_ttl_sec || 60;
    const every = Math.max(1, Math.min(interval, lease / 2)) * 1000;
    this.timer = window.setInterval(() => {
      if (this.video.paused || this.closed) return;
      this.report("heartbeat");
      this.heartbeatProgress("playing");
    }, every);

    this.loadStartedAt = now();
    const resume = (this.started.resume_position_ms || 0) / 1000;
    try {
      await player.load(manifest.url, resume > 0 ? resume : null);
    } catch (error) {
      this.failed(error);
      return false;
    }
    if (this.lastError) return false;
    try {
      await this.video.play();
    } catch (error) {
      // Autoplay refused (no user gesture): the controls are there to press play.
      this.onStatus("press play");
    }
    return true;
  }

  failed(error) {
    if (this.lastError) return;
    const described = error && error.code && typeof error.code === "number"
      ? describeShakaError(error)
      : { code: (error && error.code) || "PLAYER_ERROR", message: String((error && error.message) || error) };
    this.lastError = described;
    this.report("error", { error_code: String(described.code).slice(0, 64) });
    this.onError(described);
  }

  // Stops the stream: the last position, then the session's slot is freed.
  async close() {
    if (this.closed) return;
    this.closed = true;
    window.clearInterval(this.timer);
    for (const [target, name, handler] of this.handlers) target.removeEventListener(name, handler);
    const position = this.video.currentTime || 0;
    if (!this.lastError && !this.firstPlay) await this.heartbeatProgress(this.video.ended ? "finished" : "paused");
    try {
      await api.stop(this.started.title_id, { session_id: this.started.session_id, position });
    } catch (error) {
      console.warn("stop not recorded", error.code || error);
    }
    if (this.player) await this.player.destroy();
  }
}

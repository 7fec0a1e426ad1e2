// The page: sign in → pick a profile → home rows, search, a title, playback.
// Views are <section>s of index.html; the hash names the view (#/home, #/title/<id>, …).

import { api, ApiError, session } from "./api.js";
import { Playback } from "./player.js";

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

// A title's picture, or its name on a colour of its own when the catalog has no artwork.
function artwork(url, name, id) {
  let hue = 0;
  for (const ch of id || name) hue = (hue * 31 + ch.charCodeAt(0)) % 360;
  const box = el("div", { class: "art", style: `--hue:${hue}` }, el("span", {}, name));
  if (url) {
    const img = el("img", { src: url, alt: "", loading: "lazy" });
    img.addEventListener("error", () => img.remove());
    box.prepend(img);
  }
  return box;
}

function showError(target, error, extra) {
  target.replaceChildren(
    el("div", { class: "error", role: "alert", "data-code": error.code || "" },
      el("strong", {}, error.code || "ERROR"), " ", error.message || String(error),
      extra || null),
  );
}

function showView(name) {
  for (const view of document.querySelectorAll("main > section")) {
    view.hidden = view.id !== name;
  }
  $("#topbar").hidden = name === "signin";
  $("#search-form").hidden = !session.profileId || name === "signin" || name === "profiles";
  $("#who").textContent = session.profileName ? session.profileName : "";
}

let playback = null;

async function stopPlayback() {
  if (playback) {
    const ending = playback;
    playback = null;
    window.__playback = null;
    await ending.close();
  }
}

// -- views -----------------------------------------------------------------------------------

function signinView() {
  showView("signin");
  $("#signin-email").focus();
}

async function profilesView() {
  showView("profiles");
  const list = $("#profile-list");
  list.replaceChildren(el("p", { class: "muted" }, "Loading profiles…"));
  const { profiles } = await api.profiles();
  list.replaceChildren(
    ...profiles.map((profile) =>
      el("button", {
        class: "profile",
        "data-profile-id": profile.id,
        onclick: () => { session.setProfile(profile); go("#/home"); },
      },
      el("span", { class: "avatar" }, profile.name.slice(0, 1).toUpperCase()),
      el("span", {}, profile.name),
      profile.is_kids ? el("small", {}, "kids") : null)),
  );
}

function titleTile(item) {
  const id = item.title_id || item.id;
  const name = item.name || item.title;
  const meta = [item.type, item.maturity_rating || item.rating].filter(Boolean).join(" · ");
  const progress = item.progress ? el("div", { class: "bar" }, el("div", { style: `width:${Math.round(item.progress * 100)}%` })) : null;
  return el("a", { class: "tile", href: `#/title/${encodeURIComponent(id)}`, "data-title-id": id },
    artwork(item.artwork ? item.artwork.thumbnail : item.thumbnail_url, name, id),
    progress,
    el("div", { class: "name" }, name),
    el("div", { class: "muted" }, meta));
}

async function homeView() {
  showView("home");
  const rows = $("#rows");
  rows.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const home = await api.home(session.profileId);
  rows.replaceChildren(
    ...home.rows.filter((row) => row.items.length).map((row) =>
      el("div", { class: "row", "data-row": row.type },
        el("h2", {}, row.title),
        el("div", { class: "tiles" }, row.items.map(titleTile)))),
  );
}

async function searchView(q) {
  showView("search");
  $("#search-input").value = q;
  const out = $("#results");
  $("#search-heading").textContent = `Results for “${q}”`;
  out.replaceChildren(el("p", { class: "muted" }, "Searching…"));
  const found = await api.search(q, session.profileId);
  out.replaceChildren(
    found.results.length
      ? el("div", { class: "tiles wrap" }, found.results.map(titleTile))
      : el("p", { class: "muted" }, "Nothing found."),
  );
}

async function titleView(titleId) {
  showView("title");
  const box = $("#title-detail");
  box.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const title = await api.title(titleId, session.profileId);
  const playable = title.availability ? title.availability.playable : true;
  const play = (assetId, label) =>
    el("button", {
      class: "play",
      disabled: playable ? null : "disabled",
      "data-asset-id": assetId || "",
      onclick: () => go(`#/play/${encodeURIComponent(title.id)}${assetId ? "/" + encodeURIComponent(assetId) : ""}`),
    }, "▶ ", label);
  const episodes = (title.seasons || []).map((season) =>
    el("div", { class: "season" },
      el("h3", {}, `Season ${season.season}`),
      el("ol", {}, season.episodes.map((episode) =>
        el("li", {}, play(episode.asset_id, `E${episode.episode}`), " ", episode.name,
          el("span", { class: "muted" }, ` · ${clock(episode.duration_s)}`))))));
  box.replaceChildren(
    el("div", { class: "detail" },
      artwork(title.artwork && title.artwork.background, title.name, title.id),
      el("div", {},
        el("h1", {}, title.name),
        el("p", { class: "muted" },
          [title.release_year, title.maturity_rating, title.genres.join(", "), title.duration_s ? clock(title.duration_s) : null]
            .filter(Boolean).join(" · ")),
        el("p", {}, title.synopsis),
        title.cast && title.cast.length ? el("p", { class: "muted" }, "With " + title.cast.slice(0, 4).join(", ")) : null,
        playable
          ? play(null, title.type === "series" ? "Play next episode" : "Play")
          : el("p", { class: "error" }, title.availability.reason || "Not playable here"),
        ...episodes)),
  );
}

async function streamLimitDetails(error) {
  const streams = Array.isArray(error.details) ? error.details : [];
  let names = {};
  try {
    const { profiles } = await api.profiles();
    names = Object.fromEntries(profiles.map((p) => [p.id, p.name]));
  } catch { /* ids will do */ }
  const titles = {};
  await Promise.all(streams.map(async (s) => {
    try { titles[s.title_id] = (await api.title(s.title_id)).name; } catch { /* id will do */ }
  }));
  return el("div", {},
    el("p", {}, "Streams playing on this account right now:"),
    el("table", { class: "streams" },
      el("thead", {}, el("tr", {}, ["Device", "Platform", "Profile", "Title", "Started"].map((h) => el("th", {}, h)))),
      el("tbody", {}, streams.map((s) =>
        el("tr", { "data-session-id": s.session_id },
          el("td", {}, s.device_id), el("td", {}, s.platform),
          el("td", {}, names[s.profile_id] || s.profile_id),
          el("td", {}, titles[s.title_id] || s.title_id),
          el("td", {}, new Date(s.started_at).toLocaleTimeString()))))),
    el("p", { class: "muted" }, "Stop one of them, or wait until it times out, then press play again."));
}

async function playView(titleId, assetId) {
  showView("play");
  const status = $("#play-status");
  const errors = $("#play-error");
  const video = $("#video");
  errors.replaceChildren();
  status.textContent = "Starting…";
  $("#play-back").href = `#/title/${encodeURIComponent(titleId)}`;
  $("#play-title").textContent = "";
  api.title(titleId, session.profileId).then((t) => { $("#play-title").textContent = t.name; }, () => {});
  let started;
  try {
    started = await api.startSession(session.profileId, titleId, assetId);
  } catch (error) {
    status.textContent = "";
    $("#screen").hidden = true;
    const extra = error.code === "STREAM_LIMIT_REACHED" ? await streamLimitDetails(error) : null;
    showError(errors, error, extra);
    return;
  }
  $("#screen").hidden = false;
  const resume = started.resume_position_ms / 1000;
  status.textContent = resume > 0 ? `Resuming at ${clock(resume)}` : "Loading…";
  playback = new Playback(video, started, {
    onError: (error) => { status.textContent = ""; showError(errors, error); },
    onStatus: (text) => { status.textContent = text === "playing" ? (resume > 0 ? `Resumed at ${clock(resume)}` : "") : text; },
  });
  window.__playback = playback; // for the browser test: the session and what was reported
  const shown = playback;
  const stats = $("#play-stats");
  const tick = () => { if (playback === shown) { stats.textContent = shown.summary(); window.setTimeout(tick, 1000); } else stats.textContent = ""; };
  tick();
  await playback.start();
}

// -- routing ---------------------------------------------------------------------------------

function go(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

async function route() {
  await stopPlayback();
  const [path, query] = window.location.hash.replace(/^#\/?/, "").split("?");
  const [view, ...args] = path.split("/").map(decodeURIComponent);
  if (!session.signedIn) return signinView();
  if (!session.profileId && view !== "profiles") return go("#/profiles");
  try {
    if (view === "profiles") await profilesView();
    else if (view === "search") await searchView(new URLSearchParams(query || "").get("q") || "");
    else if (view === "title") await titleView(args[0]);
    else if (view === "play") await playView(args[0], args[1]);
    else await homeView();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signinView();
    showView("failure");
    showError($("#failure"), error);
  }
}

$("#signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("#signin-error");
  out.replaceChildren();
  try {
    await api.login($("#signin-email").value.trim(), $("#signin-password").value);
    go("#/profiles");
  } catch (error) {
    showError(out, error);
  }
});

$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("#search-input").value.trim();
  if (q) go(`#/search?q=${encodeURIComponent(q)}`);
});

$("#switch-profile").addEventListener("click", () => go("#/profiles"));
$("#signout").addEventListener("click", async () => {
  await stopPlayback();
  await api.logout().catch(() => {});
  go("#/signin");
});

// Leaving the page ends the stream (the request outlives the page: keepalive).
window.addEventListener("pagehide", () => { if (playback) playback.close(); });
window.addEventListener("hashchange", route);
route();

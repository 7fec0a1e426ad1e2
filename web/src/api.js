// The API client: tokens, one fetch wrapper, the error envelope, and the calls the page makes.
// Tokens live in sessionStorage (this tab only); a 401 refreshes once and retries.

const store = window.sessionStorage;

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "HTTP_" + status;
    this.details = error.details;
    this.requestId = body && body.request_id;
  }
}

export const session = {
  get accessToken() { return store.getItem("access_token"); },
  get refreshToken() { return store.getItem("refresh_token"); },
  get profileId() { return store.getItem("profile_id"); },
  get profileName() { return store.getItem("profile_name"); },
  setTokens(body) {
    store.setItem("access_token", body.access_token);
    store.setItem("refresh_token", body.refresh_token);
  },
  setProfile(profile) {
    store.setItem("profile_id", profile.id);
    store.setItem("profile_name", profile.name);
  },
  clear() { store.clear(); },
  get signedIn() { return Boolean(this.accessToken); },
};

// One id per browser: the service counts streams per device, and a device re-starting
// replaces its own session instead of taking a second slot.
export function deviceId() {
  let id = window.localStorage.getItem("device_id");
  if (!id) {
    id = "web-" + crypto.getRandomValues(new Uint32Array(2)).join("");
    window.localStorage.setItem("device_id", id);
  }
  return id;
}

async function send(method, path, { body, query, auth = true } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && session.accessToken) headers.Authorization = "Bearer " + session.accessToken;
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive: method !== "GET" && JSON.stringify(body || {}).length < 60000,
  });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

let refreshing = null;

async function refresh() {
  if (!session.refreshToken) return false;
  refreshing ??= send("POST", "/v1/auth/refresh", {
    body: { refresh_token: session.refreshToken },
    auth: false,
  }).then(
    (body) => { session.setTokens(body); return true; },
    () => false,
  ).finally(() => { refreshing = null; });
  return refreshing;
}

export async function call(method, path, options = {}) {
  try {
    return await send(method, path, options);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && options.auth !== false) {
      if (await refresh()) return send(method, path, options);
      session.clear();
    }
    throw error;
  }
}

export const api = {
  async login(email, password) {
    const body = await call("POST", "/v1/auth/login", { body: { email, password }, auth: false });
    session.setTokens(body);
    return body;
  },
  async logout() {
    try { await call("POST", "/v1/auth/logout", { body: {} }); } finally { session.clear(); }
  },
  profiles: () => call("GET", "/v1/users/profiles"),
  home: (profileId) => call("GET", "/v1/home", { query: { profile_id: profileId, device: "web" } }),
  search: (q, profileId) => call("GET", "/v1/search", { query: { q, profile_id: profileId, limit: 24 } }),
  title: (titleId, profileId) =>
    call("GET", `/v1/titles/${encodeURIComponent(titleId)}`, { query: { profile_id: profileId } }),
  startSession: (profileId, titleId, assetId) =>
    call("POST", "/v1/playback/sessions", {
      body: {
        profile_id: profileId,
        title_id: titleId,
        ...(assetId ? { asset_id: assetId } : {}),
        device: { device_id: deviceId(), platform: "web", drm: "clearkey" },
      },
    }),
  progress: (profileId, body) =>
    call("PUT", `/v1/profiles/${encodeURIComponent(profileId)}/progress`, { body }),
  event: (body) => call("POST", "/v1/playback/events", { body }),
  stop: (titleId, body) =>
    call("POST", `/v1/streaming/${encodeURIComponent(titleId)}/stop`, { body }),
};

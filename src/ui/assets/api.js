// The UI's only door to the server: /v1, with the token from sessionStorage in X-Vault-Token.
// The token never goes into a URL, a cookie or a Referer (credentials: "omit",
// referrerPolicy: "no-referrer").
"use strict";

const TOKEN_KEY = "mainkey.token";

class ApiError extends Error {
  constructor(status, messages) {
    // A 403 always reads "permission denied": it must not tell what exists elsewhere.
    const text = status === 403 ? "permission denied"
      : messages.length ? messages.join("; ")
      : status === 404 ? "not found" : `request failed (${status})`;
    super(text);
    this.status = status;
    this.messages = messages;
  }
}

const api = {
  token() { return sessionStorage.getItem(TOKEN_KEY); },
  setToken(token) { sessionStorage.setItem(TOKEN_KEY, token); },
  clearToken() { sessionStorage.removeItem(TOKEN_KEY); },

  // Resolves to the JSON body (or null for 204); rejects with ApiError carrying Vault's
  // `errors`. `okStatuses` lets a caller accept e.g. the 404 of a deleted KV v2 version,
  // whose body still has the metadata.
  async call(method, path, body, okStatuses = []) {
    const headers = {};
    const token = api.token();
    if (token) headers["X-Vault-Token"] = token;
    const init = { method, headers, credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch("/v1/" + path, init);
    let json = null;
    const text = await resp.text();
    if (text) {
      try { json = JSON.parse(text); } catch (_) { json = null; }
    }
    if (resp.ok || okStatuses.includes(resp.status)) return json;
    const errors = json && Array.isArray(json.errors) ? json.errors.map(String) : [];
    throw new ApiError(resp.status, errors);
  },
  get(path, okStatuses) { return api.call("GET", path, undefined, okStatuses); },
  post(path, body) { return api.call("POST", path, body === undefined ? {} : body); },
  put(path, body) { return api.call("PUT", path, body === undefined ? {} : body); },
  del(path) { return api.call("DELETE", path); },
  // LIST as `GET ?list=true`, which Vault takes as the same; an empty folder is a 404.
  async list(path) {
    try {
      const r = await api.get(path + "?list=true");
      return (r && r.data && r.data.keys) || [];
    } catch (e) {
      if (e.status === 404) return [];
      throw e;
    }
  },
};

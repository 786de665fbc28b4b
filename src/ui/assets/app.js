// mainkey UI: seal, login and secrets pages, and the routing of every page (admin.js has the
// policies, token, tenants and access pages). Plain DOM, no framework, no build step.
// Rule: data from the server is only ever inserted as text (text nodes, textContent, value);
// nothing here uses innerHTML. Routes live in the URL fragment (`#/kv?mount=..&path=..`),
// which holds names and paths, never the token.
"use strict";

const view = document.getElementById("view");
const errorBox = document.getElementById("error");
const nav = document.getElementById("nav");

// ---------------------------------------------------------------- small DOM helpers

// el("button", {type: "submit", onclick: f}, "text", child...): strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "value") node.value = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number"
      ? document.createTextNode(String(child)) : child);
  }
  return node;
}

function show(...nodes) {
  view.replaceChildren(...nodes);
  const focus = view.querySelector("[autofocus]");
  if (focus) focus.focus();
}

function showError(err) {
  errorBox.textContent = err ? (err.message || String(err)) : "";
  errorBox.hidden = !err;
}

function route(name, params) {
  const q = new URLSearchParams(params || {}).toString();
  return "#/" + name + (q ? "?" + q : "");
}

function go(name, params) {
  const target = route(name, params);
  if (location.hash === target) render();
  else location.hash = target;
}

// A path for /v1: each segment percent-encoded, the slashes kept.
function enc(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

// Runs an action from a button or form, showing Vault's message when it fails.
async function attempt(action) {
  showError(null);
  try {
    await action();
  } catch (err) {
    showError(err);
  }
}

function formatTime(value) {
  return value ? String(value) : "";
}

// Lists past PAGE_AFTER entries show PAGE_SIZE at a time, so that a mount with 5,000 keys
// draws (and reads per entry) no more than 100. Returns the shown part of `items` and the
// previous/next links (real links: the page number is in the fragment), or no links.
const PAGE_SIZE = 100;
const PAGE_AFTER = 1000;

function paged(items, name, params) {
  if (items.length <= PAGE_AFTER) return { items, nav: null };
  const pages = Math.ceil(items.length / PAGE_SIZE);
  const page = Math.min(Math.max(1, Math.floor(Number(params.page)) || 1), pages);
  const start = (page - 1) * PAGE_SIZE;
  const end = Math.min(start + PAGE_SIZE, items.length);
  const link = (n, id, label) => (n >= 1 && n <= pages
    ? el("a", { href: route(name, { ...params, page: String(n) }), id, class: "button secondary" }, label) : null);
  return {
    items: items.slice(start, end),
    nav: el("nav", { class: "pager", "aria-label": "Pages" },
      link(page - 1, "page-prev", "Previous"),
      el("span", { id: "page-info" }, `Page ${page} of ${pages} (${start + 1}–${end} of ${items.length})`),
      link(page + 1, "page-next", "Next")),
  };
}

// ---------------------------------------------------------------- seal

function sealPage(status) {
  nav.hidden = true;
  if (!status.initialized) {
    return show(el("section", { class: "card narrow", id: "seal-page" },
      el("h1", {}, "Not initialised"),
      el("p", {}, "Initialise this server first: mainkey operator init.")));
  }
  const key = el("input", { id: "unseal-key", type: "password", autocomplete: "off", autofocus: true, required: true });
  const form = el("form", {
    id: "unseal-form",
    onsubmit: (event) => {
      event.preventDefault();
      attempt(async () => {
        const next = await api.put("sys/unseal", { key: key.value });
        key.value = "";
        if (next.sealed) sealPage(next);
        else go("login");
      });
    },
  },
  el("label", { for: "unseal-key" }, "Unseal key"),
  key,
  el("button", { type: "submit", id: "unseal-submit" }, "Unseal"));
  show(el("section", { class: "card narrow", id: "seal-page" },
    el("h1", {}, "Sealed"),
    el("p", {}, "This server is sealed. Enter the unseal keys one at a time."),
    el("p", { class: "progress", id: "unseal-progress" }, `${status.progress}/${status.t}`),
    el("p", { class: "muted" }, `Threshold ${status.t} of ${status.n} key shares.`),
    form));
}

// ---------------------------------------------------------------- login

function loginPage() {
  nav.hidden = true;
  const method = el("select", { id: "login-method" },
    el("option", { value: "token" }, "Token"),
    el("option", { value: "userpass" }, "Username & password"));
  const token = el("input", { id: "login-token", type: "password", autocomplete: "off", autofocus: true });
  const mount = el("input", { id: "login-mount", value: "userpass", autocomplete: "off" });
  const user = el("input", { id: "login-username", autocomplete: "username" });
  const pass = el("input", { id: "login-password", type: "password", autocomplete: "current-password" });
  const tokenFields = el("div", {}, el("label", { for: "login-token" }, "Token"), token);
  const userpassFields = el("div", { hidden: true },
    el("label", { for: "login-mount" }, "Mount path"), mount,
    el("label", { for: "login-username" }, "Username"), user,
    el("label", { for: "login-password" }, "Password"), pass);
  method.addEventListener("change", () => {
    tokenFields.hidden = method.value !== "token";
    userpassFields.hidden = method.value !== "userpass";
  });
  const form = el("form", {
    id: "login-form",
    onsubmit: (event) => {
      event.preventDefault();
      attempt(async () => {
        if (method.value === "token") {
          api.setToken(token.value.trim());
          try {
            await api.get("auth/token/lookup-self");
          } catch (err) {
            api.clearToken();
            throw err;
          }
        } else {
          const path = mount.value.trim().replace(/^\/+|\/+$/g, "") || "userpass";
          api.clearToken();
          const r = await api.post(`auth/${enc(path)}/login/${encodeURIComponent(user.value)}`, { password: pass.value });
          api.setToken(r.auth.client_token);
        }
        token.value = "";
        pass.value = "";
        go("secrets");
      });
    },
  },
  el("label", { for: "login-method" }, "Method"), method,
  tokenFields, userpassFields,
  el("button", { type: "submit", id: "login-submit" }, "Sign in"));
  show(el("section", { class: "card narrow", id: "login-page" }, el("h1", {}, "Sign in to mainkey"), form));
}

function logout() {
  api.clearToken();
  showError(null);
  go("login");
}

// ---------------------------------------------------------------- mounts

async function mountsPage() {
  const r = await api.get("sys/internal/ui/mounts");
  const mounts = (r && r.data && r.data.secret) || {};
  const rows = Object.keys(mounts).sort().map((name) => {
    const m = mounts[name] || {};
    const version = kvVersion(m);
    const link = version ? el("a", { href: route("kv", { mount: name, path: "" }) }, name) : name;
    return el("tr", {}, el("td", {}, link), el("td", {}, String(m.type || "")),
      el("td", {}, version ? `v${version}` : ""), el("td", { class: "muted" }, String(m.description || "")));
  });
  show(el("section", { id: "mounts-page" },
    el("h1", {}, "Secrets engines"),
    rows.length
      ? el("div", { class: "card" }, el("table", { id: "mounts" },
        el("thead", {}, el("tr", {}, el("th", {}, "Path"), el("th", {}, "Type"), el("th", {}, "Version"), el("th", {}, "Description"))),
        el("tbody", {}, rows)))
      : el("p", { class: "muted" }, "This token can see no secrets engine.")));
}

// "1" or "2" for a KV mount, else null.
function kvVersion(mount) {
  if (!mount || (mount.type !== "kv" && mount.type !== "generic")) return null;
  return mount.options && String(mount.options.version) === "2" ? "2" : "1";
}

async function mountVersion(mount) {
  const r = await api.get("sys/internal/ui/mounts/" + enc(mount.replace(/\/$/, "")));
  return kvVersion(r && r.data) || "1";
}

// ---------------------------------------------------------------- folders

function crumbs(mount, path) {
  const parts = path.split("/").filter(Boolean);
  const links = [el("a", { href: route("secrets") }, "engines"), " / ",
    el("a", { href: route("kv", { mount, path: "" }) }, mount)];
  let prefix = "";
  parts.forEach((part, i) => {
    const last = i === parts.length - 1 && !path.endsWith("/");
    prefix += part + (last ? "" : "/");
    links.push(last ? part : el("a", { href: route("kv", { mount, path: prefix }) }, part + "/"));
  });
  return el("div", { class: "crumbs" }, links);
}

async function folderPage(mount, path, version, params) {
  const listPath = version === "2" ? `${mount}metadata/${path}` : `${mount}${path}`;
  const page = paged(await api.list(enc(listPath)), "kv", params);
  const items = page.items.map((key) => el("li", {},
    el("a", { href: route("kv", { mount, path: path + key }) }, String(key))));
  show(el("section", { id: "folder-page" },
    crumbs(mount, path),
    el("h1", {}, mount + path),
    linkButton(route("edit", { mount, path, create: "1" }), "create-secret", "Create secret"),
    page.nav,
    el("div", { class: "card" }, items.length ? el("ul", { class: "entries", id: "entries" }, items)
      : el("p", { class: "muted" }, "No entries here."))));
}

// ---------------------------------------------------------------- one secret

function maskedValue(key, value) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const shown = el("span", { class: "value", "data-key": key }, "••••••••");
  let revealed = false;
  const toggle = el("button", { type: "button", class: "secondary reveal", "aria-pressed": "false" }, "Reveal");
  toggle.addEventListener("click", () => {
    revealed = !revealed;
    shown.textContent = revealed ? text : "••••••••";
    toggle.textContent = revealed ? "Hide" : "Reveal";
    toggle.setAttribute("aria-pressed", String(revealed));
  });
  const copy = el("button", { type: "button", class: "secondary copy" }, "Copy");
  copy.addEventListener("click", () => attempt(async () => {
    if (!navigator.clipboard) throw new Error("copy needs a secure context (https or localhost)");
    await navigator.clipboard.writeText(text);
    copy.textContent = "Copied";
  }));
  return el("tr", {}, el("td", {}, key), el("td", {}, shown), el("td", {}, toggle, copy));
}

function dataTable(data) {
  const keys = Object.keys(data || {}).sort();
  if (!keys.length) return el("p", { class: "muted" }, "No data.");
  return el("table", { id: "secret-data" }, el("tbody", {}, keys.map((k) => maskedValue(k, data[k]))));
}

async function secretPage(mount, path, version, wanted) {
  if (version !== "2") {
    const r = await api.get(enc(mount + path));
    return show(el("section", { id: "secret-page" }, crumbs(mount, path), el("h1", {}, mount + path),
      linkButton(route("edit", { mount, path }), "edit-secret", "Edit"),
      el("div", { class: "card" }, dataTable(r && r.data))));
  }
  const query = wanted ? `?version=${encodeURIComponent(wanted)}` : "";
  // A deleted or destroyed version is a 404 whose body still has the metadata.
  const r = await api.get(enc(`${mount}data/${path}`) + query, [404]);
  // A token may read data without metadata: the page still shows the secret.
  const meta = await optional(api.get(enc(`${mount}metadata/${path}`)));
  const current = (r && r.data && r.data.metadata) || {};
  const info = (meta && meta.data) || {};
  const latest = info.current_version || current.version;
  const shownVersion = current.version || wanted || latest;
  const gone = !r || !r.data || r.data.data === null || r.data.data === undefined;
  const actions = el("div", {},
    linkButton(route("edit", { mount, path }), "edit-secret", "Create new version"),
    // DELETE data/<path> soft-deletes the latest version, as `kv delete` does.
    gone || Number(shownVersion) !== latest ? null : button("Delete", "danger", () => api.del(enc(`${mount}data/${path}`))),
    current.deletion_time && !current.destroyed
      ? button("Undelete", "secondary", () => api.post(enc(`${mount}undelete/${path}`), { versions: [Number(shownVersion)] })) : null,
    current.destroyed ? null
      : button("Destroy", "danger", () => api.put(enc(`${mount}destroy/${path}`), { versions: [Number(shownVersion)] })));
  const state = current.destroyed ? "destroyed" : current.deletion_time ? "deleted" : "";
  show(el("section", { id: "secret-page" },
    crumbs(mount, path),
    el("h1", {}, mount + path),
    el("p", { class: "muted", id: "secret-version" }, `Version ${shownVersion} of ${latest}`, state ? ` (${state})` : ""),
    actions,
    el("div", { class: "card" }, gone ? el("p", { class: "muted" }, `This version is ${state || "not readable"}.`) : dataTable(r.data.data)),
    el("h2", {}, "Custom metadata"),
    meta ? null : el("p", { class: "muted", id: "metadata-denied" }, "Metadata: permission denied."),
    el("div", { class: "card" }, metadataTable(info.custom_metadata)),
    el("h2", {}, "Version history"),
    el("div", { class: "card" }, historyTable(mount, path, info.versions || {})),
    el("h2", {}, "Metadata"),
    el("div", { class: "card" }, el("table", { id: "secret-metadata" }, el("tbody", {},
      ["current_version", "oldest_version", "max_versions", "cas_required", "delete_version_after", "created_time", "updated_time"]
        .filter((k) => k in info)
        .map((k) => el("tr", {}, el("th", {}, k), el("td", {}, String(info[k])))))))));
}

// A link that looks like a button: navigation stays a real link (keyboard, new tab).
function linkButton(href, id, label) {
  return el("a", { href, id, class: "button" }, label);
}

// The body of a read that a 403 may refuse, or null.
async function optional(read) {
  try {
    return await read;
  } catch (err) {
    if (err.status === 403) return null;
    throw err;
  }
}

function button(label, cls, fn) {
  return el("button", {
    type: "button",
    class: cls,
    id: label.toLowerCase() + "-version",
    onclick: () => attempt(async () => { await fn(); render(); }),
  }, label);
}

function metadataTable(custom) {
  const keys = Object.keys(custom || {}).sort();
  if (!keys.length) return el("p", { class: "muted" }, "None.");
  return el("table", { id: "custom-metadata" }, el("tbody", {},
    keys.map((k) => el("tr", {}, el("th", {}, k), el("td", { class: "value" }, String(custom[k]))))));
}

function historyTable(mount, path, versions) {
  const numbers = Object.keys(versions).map(Number).sort((a, b) => b - a);
  return el("table", { id: "version-history" },
    el("thead", {}, el("tr", {}, el("th", {}, "Version"), el("th", {}, "Created"), el("th", {}, "State"))),
    el("tbody", {}, numbers.map((n) => {
      const v = versions[String(n)] || {};
      const state = v.destroyed ? "destroyed" : v.deletion_time ? `deleted ${v.deletion_time}` : "";
      return el("tr", {},
        el("td", {}, el("a", { href: route("kv", { mount, path, version: String(n) }) }, String(n))),
        el("td", {}, formatTime(v.created_time)), el("td", {}, state));
    })));
}

// ---------------------------------------------------------------- create / edit

// One key/value row of a form; a secret's values are masked while typed, metadata is not.
function pairRow(key, value, secret = true) {
  const row = el("div", { class: "row pair" },
    el("input", { class: "pair-key", "aria-label": "Key", placeholder: "key", value: key }),
    el("input", { class: "pair-value", "aria-label": "Value", placeholder: "value", type: secret ? "password" : "text", autocomplete: "off", value }),
    el("button", { type: "button", class: "secondary", onclick: () => row.remove() }, "Remove"));
  return row;
}

async function editPage(mount, path, version, creating) {
  let data = {};
  let cas = 0;
  if (!creating) {
    if (version === "2") {
      const r = await api.get(enc(`${mount}data/${path}`), [404]);
      data = (r && r.data && r.data.data) || {};
      // The latest version, also when it is deleted (its 404 carries the metadata).
      cas = (r && r.data && r.data.metadata && r.data.metadata.version) || 0;
    } else {
      const r = await api.get(enc(mount + path));
      data = (r && r.data) || {};
    }
  }
  const name = el("input", { id: "secret-path", value: path, required: true, autofocus: creating, readonly: !creating });
  const pairs = el("div", { id: "pairs" });
  const entries = Object.entries(data);
  if (!entries.length) pairs.append(pairRow("", ""));
  for (const [k, v] of entries) pairs.append(pairRow(k, typeof v === "string" ? v : JSON.stringify(v)));
  const form = el("form", {
    id: "secret-form",
    onsubmit: (event) => {
      event.preventDefault();
      attempt(async () => {
        const target = name.value.trim().replace(/^\/+/, "");
        if (!target || target.endsWith("/")) throw new Error("a secret needs a name (not ending in /)");
        const body = {};
        for (const row of pairs.querySelectorAll(".pair")) {
          const k = row.querySelector(".pair-key").value;
          if (k) body[k] = row.querySelector(".pair-value").value;
        }
        if (version === "2") {
          // Check-and-set: a create must find no secret, an edit the version it was based on,
          // so that two editors never overwrite each other unseen.
          await api.post(enc(`${mount}data/${target}`), { options: { cas }, data: body });
        } else {
          await api.post(enc(mount + target), body);
        }
        go("kv", { mount, path: target });
      });
    },
  },
  el("label", { for: "secret-path" }, "Path"), name,
  el("label", {}, "Data"), pairs,
  el("button", { type: "button", class: "secondary", id: "add-pair", onclick: () => pairs.append(pairRow("", "")) }, "Add field"),
  el("div", {}, el("button", { type: "submit", id: "save-secret" }, "Save")));
  show(el("section", { id: "edit-page" }, crumbs(mount, path),
    el("h1", {}, creating ? `Create secret in ${mount}${path}` : `Edit ${mount}${path}`),
    version === "2" && !creating ? el("p", { class: "muted" }, `Saving creates version ${cas + 1}.`) : null,
    el("div", { class: "card" }, form)));
}

// ---------------------------------------------------------------- routing

// One page is drawn at a time; a navigation during a draw draws again afterwards, so a slow
// answer for an old page can never paint over the page the address now names.
let drawing = null;
let drawAgain = false;

async function render() {
  if (drawing) {
    drawAgain = true;
    return drawing;
  }
  drawing = (async () => {
    do {
      drawAgain = false;
      await draw();
    } while (drawAgain);
  })();
  try {
    await drawing;
  } finally {
    drawing = null;
  }
}

// The pages that take only their fragment's parameters (the functions are in admin.js).
const PAGES = {
  policies: (p) => policiesPage(p),
  policy: (p) => policyPage(p.name || ""),
  "policy-edit": (p) => policyEditPage(p.name || "", p.create === "1"),
  token: () => tokenPage(),
  tenants: (p) => tenantsPage(p),
  access: () => accessPage(),
  approle: (p) => approlePage(p),
  userpass: (p) => userpassPage(p),
  entities: (p) => entitiesPage(p),
  entity: (p) => entityPage(p.id || ""),
  groups: (p) => groupsPage(p),
};

async function draw() {
  showError(null);
  stopTicker();
  let status;
  try {
    status = await api.get("sys/seal-status");
  } catch (err) {
    return show(el("p", {}, "Cannot reach the server: " + err.message));
  }
  // Sealed: the seal page and nothing else.
  if (!status.initialized || status.sealed) return sealPage(status);
  if (!api.token()) return loginPage();
  nav.hidden = false;
  const [name, query] = location.hash.replace(/^#\/?/, "").split("?");
  const params = new URLSearchParams(query || "");
  try {
    if (name === "kv" || name === "edit") {
      const mount = params.get("mount") || "";
      const path = params.get("path") || "";
      const version = await mountVersion(mount);
      if (name === "edit") await editPage(mount, path, version, params.get("create") === "1");
      else if (path === "" || path.endsWith("/")) await folderPage(mount, path, version, Object.fromEntries(params));
      else await secretPage(mount, path, version, params.get("version"));
    } else if (PAGES[name]) {
      await PAGES[name](Object.fromEntries(params));
    } else {
      await mountsPage();
    }
  } catch (err) {
    show(el("p", { class: "muted" }, "Could not load this page."));
    showError(err);
  }
}

document.getElementById("logout").addEventListener("click", logout);
window.addEventListener("hashchange", render);
render();

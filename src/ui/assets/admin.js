// mainkey UI: the policies, token, tenants and access pages. It uses app.js's helpers (el, show,
// route, go, enc, attempt, optional, paged, pairRow), which are defined by the time any of these
// pages is drawn. The same rule as app.js: server data is inserted as text only.
"use strict";

// ---------------------------------------------------------------- policies

// The warnings of `mainkey policy lint` (src/policy/lint.rs), word for word, so the editor
// shows before saving what the server would answer in `warnings` after.
function lintPath(path) {
  const out = [];
  const body = path.endsWith("*") ? path.slice(0, -1) : path;
  if (body.includes("*")) {
    let w = `path ${JSON.stringify(path)}: "*" is only a glob at the end of a path; Vault and mainkey match this "*" literally.`;
    const segments = path.split("/");
    const last = segments.length - 1;
    const suggested = segments.map((seg, i) => (seg === "*" && i !== last ? "+" : seg));
    if (suggested.some((seg, i) => seg !== segments[i])) {
      w += ` To match one segment, use "+": ${JSON.stringify(suggested.join("/"))}`;
    }
    out.push(w);
  }
  if (body.split("/").some((seg) => seg.includes("+") && seg !== "+")) {
    out.push(`path ${JSON.stringify(path)}: "+" is only a wildcard as a whole segment; Vault and mainkey match this "+" literally.`);
  }
  return out;
}

// The path patterns of an HCL or JSON policy, in order. A text that does not parse yields what
// it can; the server reports the parse error on save.
function policyPaths(text) {
  if (text.trim().startsWith("{")) {
    try {
      const parsed = JSON.parse(text);
      return Object.keys((parsed && parsed.path) || {});
    } catch (_) {
      return [];
    }
  }
  const paths = [];
  for (const m of withoutComments(text).matchAll(/(^|[\s{;])path\s+("(?:[^"\\\n]|\\.)*")/g)) {
    try { paths.push(JSON.parse(m[2])); } catch (_) { /* not a string literal */ }
  }
  return paths;
}

// HCL text with its comments (`#`, `//`, `/* */`) blanked out, strings left as they are, so a
// commented-out rule is not linted.
function withoutComments(text) {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"' && text[j] !== "\n") j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "#" || text.startsWith("//", i)) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
      out += " ";
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function lintPolicy(text) {
  return policyPaths(text).flatMap(lintPath);
}

function warningList(id, warnings) {
  const box = el("ul", { id, class: "warnings", role: "status" });
  box.hidden = !warnings.length;
  box.replaceChildren(...warnings.map((w) => el("li", {}, w)));
  return box;
}

async function policiesPage(params) {
  const names = await api.list("sys/policies/acl");
  const page = paged(names.slice().sort(), "policies", params);
  show(el("section", { id: "policies-page" },
    el("h1", {}, "ACL policies"),
    linkButton(route("policy-edit", { create: "1" }), "create-policy", "Create policy"),
    page.nav,
    el("div", { class: "card" }, el("ul", { class: "entries", id: "policies" },
      page.items.map((n) => el("li", {}, el("a", { href: route("policy", { name: n }) }, String(n))))))));
}

// Warnings the server answered to the last save, shown once on the policy's page.
let savedWarnings = null;

async function policyPage(name) {
  const r = await api.get("sys/policies/acl/" + encodeURIComponent(name));
  const d = (r && r.data) || {};
  const warnings = savedWarnings && savedWarnings.name === name ? savedWarnings.warnings : [];
  savedWarnings = null;
  const actions = el("div", {},
    name === "root" ? null : linkButton(route("policy-edit", { name }), "edit-policy", "Edit"),
    // The server decides what may be deleted (not root, not default) and says why not.
    el("button", {
      type: "button", class: "danger", id: "delete-policy",
      onclick: () => attempt(async () => {
        await api.del("sys/policies/acl/" + encodeURIComponent(name));
        go("policies");
      }),
    }, "Delete"));
  show(el("section", { id: "policy-page" },
    el("div", { class: "crumbs" }, el("a", { href: route("policies") }, "policies"), " / ", name),
    el("h1", {}, name),
    warnings.length ? el("p", {}, "Saved, with the server's warnings:") : null,
    warningList("server-warnings", warnings),
    actions,
    el("p", { class: "muted" }, d.modified ? `Version ${d.version}, modified ${d.modified}` : ""),
    el("div", { class: "card" }, el("pre", { id: "policy-text", class: "value" },
      name === "root" ? "(built in: every capability on every path)" : String(d.policy || "")))));
}

async function policyEditPage(name, creating) {
  let text = "";
  if (!creating) {
    const r = await api.get("sys/policies/acl/" + encodeURIComponent(name));
    text = String((r && r.data && r.data.policy) || "");
  }
  const nameField = el("input", { id: "policy-name", value: creating ? "" : name, required: true, autocomplete: "off", autofocus: creating, readonly: !creating });
  const editor = el("textarea", { id: "policy-editor", rows: 16, spellcheck: "false", autofocus: !creating, value: text });
  const warnings = warningList("policy-warnings", []);
  const check = () => {
    const found = lintPolicy(editor.value);
    warnings.replaceChildren(...found.map((w) => el("li", {}, w)));
    warnings.hidden = !found.length;
    return found;
  };
  editor.addEventListener("input", check);
  check();
  const form = el("form", {
    id: "policy-form",
    onsubmit: (event) => {
      event.preventDefault();
      attempt(async () => {
        const target = nameField.value.trim().toLowerCase();
        if (!target) throw new Error("a policy needs a name");
        const r = await api.put("sys/policies/acl/" + encodeURIComponent(target), { policy: editor.value });
        savedWarnings = { name: target, warnings: ((r && r.warnings) || []).map(String) };
        go("policy", { name: target });
      });
    },
  },
  el("label", { for: "policy-name" }, "Name"), nameField,
  el("label", { for: "policy-editor" }, "Policy (HCL or JSON)"), editor,
  warnings,
  el("div", {},
    el("button", { type: "button", class: "secondary", id: "check-policy", onclick: check }, "Check"),
    el("button", { type: "submit", id: "save-policy" }, "Save")));
  show(el("section", { id: "policy-edit-page" },
    el("div", { class: "crumbs" }, el("a", { href: route("policies") }, "policies"), " / ", creating ? "new" : name),
    el("h1", {}, creating ? "Create policy" : `Edit ${name}`),
    el("div", { class: "card" }, form)));
}

// ---------------------------------------------------------------- token

// Seconds as Vault prints durations: 1h2m3s.
function formatTtl(seconds) {
  let s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return (h ? `${h}h` : "") + (h || m ? `${m}m` : "") + `${s}s`;
}

// The one countdown of the token page; every draw stops it (see app.js's draw).
let ticker = null;

function stopTicker() {
  if (ticker) clearInterval(ticker);
  ticker = null;
}

function countdown(ttl) {
  const cell = el("span", { id: "token-ttl" });
  if (!ttl) {
    cell.textContent = "never expires";
    return cell;
  }
  const end = Date.now() + ttl * 1000;
  const tick = () => { cell.textContent = formatTtl((end - Date.now()) / 1000); };
  tick();
  stopTicker();
  ticker = setInterval(tick, 1000);
  return cell;
}

function list(values) {
  return Array.isArray(values) && values.length ? values.map(String).join(", ") : "";
}

function fieldsTable(id, rows) {
  return el("table", { id }, el("tbody", {},
    rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { "data-field": k }, v)))));
}

// The TTL the last renewal answered, shown once on the next draw of the token page.
let renewedTtl = null;

async function tokenPage() {
  const renewed = renewedTtl;
  renewedTtl = null;
  const r = await api.get("auth/token/lookup-self");
  const d = (r && r.data) || {};
  const increment = el("input", { id: "renew-increment", placeholder: "e.g. 1h (empty: the token's own TTL)", autocomplete: "off" });
  const renew = el("form", {
    id: "renew-form",
    onsubmit: (event) => {
      event.preventDefault();
      attempt(async () => {
        const body = increment.value.trim() ? { increment: increment.value.trim() } : {};
        const a = await api.post("auth/token/renew-self", body);
        renewedTtl = (a && a.auth && a.auth.lease_duration) || 0;
        render();
      });
    },
  },
  el("label", { for: "renew-increment" }, "Increment"),
  el("div", { class: "row" }, increment, el("button", { type: "submit", id: "renew-token", disabled: !d.renewable }, "Renew")));
  show(el("section", { id: "token-page" },
    el("h1", {}, "This token"),
    renewed === null ? null
      : el("p", { id: "renewed", role: "status" }, `Renewed: the new TTL is ${formatTtl(renewed)}.`),
    el("div", { class: "card" }, fieldsTable("token-info", [
      ["Display name", String(d.display_name || "")],
      ["Policies", list(d.policies)],
      ["Identity policies", list(d.identity_policies)],
      ["TTL", countdown(Number(d.ttl) || 0)],
      ["Expires", d.expire_time ? String(d.expire_time) : "never"],
      ["Renewable", d.renewable ? "yes" : "no"],
      ["Entity", String(d.entity_id || "none")],
      ["Type", String(d.type || "")],
    ])),
    d.renewable ? el("div", { class: "card" }, renew) : el("p", { class: "muted" }, "This token is not renewable.")));
}

// ---------------------------------------------------------------- tenants

// The KV mounts this token can see, for the tenants view's selector.
async function kvMounts() {
  const r = await api.get("sys/internal/ui/mounts");
  const mounts = (r && r.data && r.data.secret) || {};
  return Object.keys(mounts).filter((m) => kvVersion(mounts[m])).sort();
}

// One tenant's secrets and their last change, or null when the token may not list them.
async function tenantRow(mount, version, tenant) {
  const prefix = `tenant/${tenant}/`;
  const listPath = version === "2" ? `${mount}metadata/${prefix}` : mount + prefix;
  let keys;
  try {
    keys = await api.list(enc(listPath));
  } catch (err) {
    if (err.status === 403) return null;
    throw err;
  }
  let last = "";
  if (version === "2") {
    const metas = await Promise.all(keys.filter((k) => !k.endsWith("/"))
      .map((k) => optional(api.get(enc(`${mount}metadata/${prefix}${k}`)))));
    for (const m of metas) {
      const t = (m && m.data && m.data.updated_time) || "";
      if (t > last) last = t;
    }
  }
  return { keys, last };
}

async function tenantsPage(params) {
  const mount = params.mount || "secret/";
  const mounts = await kvMounts();
  const selector = el("select", { id: "tenant-mount", "aria-label": "Mount" },
    (mounts.includes(mount) ? mounts : [mount, ...mounts]).map((m) => el("option", { value: m, selected: m === mount }, m)));
  selector.addEventListener("change", () => go("tenants", { mount: selector.value }));
  // A token that may not see the mount at all is refused as one that may not list it.
  const version = (await optional(mountVersion(mount))) || "2";
  let tenants;
  let denied = false;
  try {
    tenants = (await api.list(enc(version === "2" ? `${mount}metadata/tenant/` : `${mount}tenant/`)))
      .filter((k) => k.endsWith("/")).map((k) => k.slice(0, -1));
  } catch (err) {
    if (err.status !== 403) throw err;
    // The token may not list tenants; its own (entity metadata tenant_id) it may still see.
    denied = true;
    const me = await api.get("auth/token/lookup-self");
    const id = me && me.data && me.data.entity_id;
    const entity = id ? await optional(api.get("identity/entity/id/" + encodeURIComponent(id))) : null;
    const own = entity && entity.data && entity.data.metadata && entity.data.metadata.tenant_id;
    tenants = own ? [String(own)] : [];
  }
  const page = paged(tenants, "tenants", params);
  const rows = await Promise.all(page.items.map(async (t) => {
    const info = await tenantRow(mount, version, t);
    const link = el("a", { href: route("kv", { mount, path: `tenant/${t}/` }) }, t);
    if (!info) {
      return el("tr", { class: "not-visible" }, el("td", {}, link),
        el("td", { class: "muted" }, "not visible to this token"), el("td", {}, ""));
    }
    return el("tr", { "data-tenant": t }, el("td", {}, link),
      el("td", { class: "tenant-secrets" }, info.keys.flatMap((k, i) => [i ? ", " : "",
        el("a", { href: route("kv", { mount, path: `tenant/${t}/${k}` }) }, String(k))])),
      el("td", {}, info.last));
  }));
  show(el("section", { id: "tenants-page" },
    el("h1", {}, "Tenants"),
    el("div", { class: "row" }, el("label", { for: "tenant-mount" }, "Mount"), selector),
    denied ? el("p", { id: "tenants-denied", class: "muted" },
      "Listing tenants: permission denied.", tenants.length ? " Shown: the tenant of this token's entity." : "") : null,
    page.nav,
    rows.length
      ? el("div", { class: "card" }, el("table", { id: "tenants" },
        el("thead", {}, el("tr", {}, el("th", {}, "Tenant"), el("th", {}, "Secrets"), el("th", {}, "Last change"))),
        el("tbody", {}, rows)))
      : el("p", { class: "muted" }, denied ? "" : `No tenants under ${mount}tenant/.`)));
}

// ---------------------------------------------------------------- access

function accessNav() {
  return el("nav", { class: "subnav", "aria-label": "Access" },
    el("a", { href: route("access") }, "Auth methods"),
    el("a", { href: route("entities") }, "Entities"),
    el("a", { href: route("groups") }, "Groups"));
}

async function accessPage() {
  const r = await api.get("sys/auth");
  const methods = (r && r.data) || {};
  const rows = Object.keys(methods).sort().map((path) => {
    const m = methods[path] || {};
    const page = m.type === "approle" ? "approle" : m.type === "userpass" ? "userpass" : null;
    return el("tr", {},
      el("td", {}, page ? el("a", { href: route(page, { mount: path }) }, path) : path),
      el("td", {}, String(m.type || "")), el("td", {}, String(m.accessor || "")),
      el("td", { class: "muted" }, String(m.description || "")));
  });
  show(el("section", { id: "access-page" }, accessNav(),
    el("h1", {}, "Auth methods"),
    el("div", { class: "card" }, el("table", { id: "auth-methods" },
      el("thead", {}, el("tr", {}, el("th", {}, "Path"), el("th", {}, "Type"), el("th", {}, "Accessor"), el("th", {}, "Description"))),
      el("tbody", {}, rows)))));
}

// A list of names under `listPath`, each read at `readPath(name)` on the shown page only, drawn
// as a table with `columns` [heading, (data) => text].
async function namedRecordsPage(id, title, pageName, params, listPath, readPath, columns, link) {
  const names = (await api.list(listPath)).slice().sort();
  const page = paged(names, pageName, params);
  const records = await Promise.all(page.items.map((n) => optional(api.get(readPath(n)))));
  show(el("section", { id }, accessNav(),
    el("h1", {}, title),
    page.nav,
    names.length
      ? el("div", { class: "card" }, el("table", { id: id.replace(/-page$/, "") },
        el("thead", {}, el("tr", {}, columns.map(([h]) => el("th", {}, h)))),
        el("tbody", {}, page.items.map((n, i) => {
          const d = (records[i] && records[i].data) || null;
          return el("tr", {}, columns.map(([, f], c) => el("td", {},
            c === 0 && link ? el("a", { href: link(n) }, f(d, n)) : d || c === 0 ? f(d, n) : "permission denied")));
        }))))
      : el("p", { class: "muted" }, "None.")));
}

function metadataText(m) {
  return Object.keys(m || {}).sort().map((k) => `${k}=${m[k]}`).join(", ");
}

function approlePage(params) {
  const mount = params.mount || "approle/";
  return namedRecordsPage("approle-page", `AppRole roles in auth/${mount}`, "approle", params,
    enc(`auth/${mount}role`), (n) => enc(`auth/${mount}role/${n}`), [
      ["Role", (_, n) => n],
      ["Token policies", (d) => list(d.token_policies)],
      ["Token TTL", (d) => formatTtl(d.token_ttl || 0)],
      ["Secret id required", (d) => (d.bind_secret_id ? "yes" : "no")],
    ]);
}

function userpassPage(params) {
  const mount = params.mount || "userpass/";
  return namedRecordsPage("userpass-page", `Users in auth/${mount}`, "userpass", params,
    enc(`auth/${mount}users`), (n) => enc(`auth/${mount}users/${n}`), [
      ["User", (_, n) => n],
      ["Token policies", (d) => list(d.token_policies)],
    ]);
}

function entitiesPage(params) {
  return namedRecordsPage("entities-page", "Entities", "entities", params,
    "identity/entity/id", (id) => "identity/entity/id/" + encodeURIComponent(id), [
      ["Name", (d, id) => (d ? String(d.name || id) : id)],
      ["Policies", (d) => list(d.policies)],
      ["Metadata", (d) => metadataText(d.metadata)],
    ], (id) => route("entity", { id }));
}

function groupsPage(params) {
  return namedRecordsPage("groups-page", "Groups", "groups", params,
    "identity/group/id", (id) => "identity/group/id/" + encodeURIComponent(id), [
      ["Name", (d, id) => (d ? String(d.name || id) : id)],
      ["Type", (d) => String(d.type || "")],
      ["Policies", (d) => list(d.policies)],
      ["Members", (d) => String((d.member_entity_ids || []).length)],
    ]);
}

async function entityPage(id) {
  const r = await api.get("identity/entity/id/" + encodeURIComponent(id));
  const d = (r && r.data) || {};
  const pairs = el("div", { id: "pairs" });
  const entries = Object.entries(d.metadata || {}).sort();
  for (const [k, v] of entries) pairs.append(pairRow(k, String(v), false));
  if (!entries.length) pairs.append(pairRow("", "", false));
  const form = el("form", {
    id: "metadata-form",
    onsubmit: (event) => {
      event.preventDefault();
      attempt(async () => {
        const metadata = {};
        for (const row of pairs.querySelectorAll(".pair")) {
          const k = row.querySelector(".pair-key").value.trim();
          if (k) metadata[k] = row.querySelector(".pair-value").value;
        }
        await api.post("identity/entity/id/" + encodeURIComponent(id), { metadata });
        render();
      });
    },
  },
  pairs,
  el("button", { type: "button", class: "secondary", id: "add-pair", onclick: () => pairs.append(pairRow("", "", false)) }, "Add field"),
  el("div", {}, el("button", { type: "submit", id: "save-metadata" }, "Save metadata")));
  show(el("section", { id: "entity-page" }, accessNav(),
    el("h1", {}, String(d.name || id)),
    el("div", { class: "card" }, fieldsTable("entity-info", [
      ["Id", String(d.id || id)],
      ["Policies", list(d.policies)],
      ["Groups", list(d.group_ids)],
      ["Aliases", (d.aliases || []).map((a) => `${a.name} (${a.mount_type || a.mount_accessor})`).join(", ")],
      ["Disabled", d.disabled ? "yes" : "no"],
      ["Last update", String(d.last_update_time || "")],
    ])),
    el("h2", {}, "Metadata"),
    el("div", { class: "card" }, metadataTable(d.metadata)),
    el("h2", {}, "Edit metadata"),
    el("div", { class: "card" }, form)));
}

"""The web UI's second set of pages in Debian's chromium: tenants, policies, token, access, paging.

Like test_ui.py, these start the real binary, drive /ui/ with Selenium and check what the page
did through the API; every page gets a screenshot under the test's tmp_path.
"""

from __future__ import annotations

import time

import hvac
import pytest
import requests

from test_ui import XSS, Browser, browser, login_with_token, needs_browser, ui_server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.mainkey_only, needs_browser]

# Seed 001's templated tenant policy, with the metadata path that listing needs.
TENANT_POLICY = """
path "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read", "list"] }
path "secret/metadata/tenant/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read", "list"] }
"""
# Seed 001's typo: a mid-path `*`, which Vault takes literally.
TYPO_POLICY = 'path "secret/data/tenant/*/nexa" { capabilities = ["read"] }'


def ok(r: requests.Response) -> dict:
    assert r.status_code in (200, 204), (r.status_code, r.text)
    return r.json() if r.status_code == 200 else {}


def write_tenants(srv) -> None:
    for tenant, names in {"acme": ["nexa", "smtp"], "beta": ["betaonly-shopify"]}.items():
        for name in names:
            ok(srv.api.post(f"secret/data/tenant/{tenant}/{name}", {"data": {"key": f"{tenant}-{name}-value"}}))


def userpass_tenant_user(srv, user: str, tenant: str) -> None:
    """A userpass user whose entity carries tenant_id, made as test_tenancy.py does."""
    ok(srv.api.post("sys/auth/userpass", {"type": "userpass"}))
    ok(srv.api.put("sys/policies/acl/tenant", {"policy": TENANT_POLICY}))
    ok(srv.api.post(f"auth/userpass/users/{user}", {"password": "pw-" + user, "token_policies": "tenant"}))
    accessor = ok(srv.api.get("sys/auth"))["data"]["userpass/"]["accessor"]
    entity = ok(srv.api.post("identity/entity", {"name": f"{user}-entity", "metadata": {"tenant_id": tenant}}))["data"]["id"]
    ok(srv.api.post("identity/entity-alias", {"name": user, "mount_accessor": accessor, "canonical_id": entity}))


def secret_links(b: Browser, tenant: str) -> list[str]:
    """The secret names in a tenant's row, as the links' own text."""
    return [a.text for a in b.find_all(f'#tenants tr[data-tenant="{tenant}"] .tenant-secrets a')]


def login_userpass(b: Browser, url: str, user: str, password: str) -> None:
    b.open(url + "/ui/")
    b.wait("#login-form")
    b.select("#login-method", "userpass")
    b.type("#login-mount", "userpass")
    b.type("#login-username", user)
    b.type("#login-password", password)
    b.click("#login-submit")
    b.wait("#mounts-page")


def test_a_tenant_user_sees_its_own_tenant_only(ui_server, browser):
    srv = ui_server
    write_tenants(srv)
    userpass_tenant_user(srv, "alice", "acme")
    login_userpass(browser, srv.url, "alice", "pw-alice")
    token = browser.session_storage()["mainkey.token"]
    assert ok(srv.api.get("auth/token/lookup-self", token=token))["data"]["entity_id"]

    browser.open(srv.url + "/ui/#/tenants")
    browser.wait("#tenants-page")
    # The tenant list itself is refused; the token's own tenant is still shown.
    assert "permission denied" in browser.wait("#tenants-denied").text
    row = browser.wait('#tenants tr[data-tenant="acme"]')
    assert secret_links(browser, "acme") == ["nexa", "smtp"]
    assert row.find_element("css selector", ".tenant-secrets").text == "nexa, smtp"
    assert len(browser.find_all("#tenants tbody tr")) == 1
    assert "beta" not in browser.driver.page_source
    browser.screenshot("tenants-tenant-user")

    # Into the secrets browser from the tenants view.
    browser.click('#tenants a[href="#/kv?mount=secret%2F&path=tenant%2Facme%2F"]')
    entries = browser.wait("#entries").text
    assert "nexa" in entries and "smtp" in entries
    assert "beta" not in browser.driver.page_source
    browser.click('#entries a[href="#/kv?mount=secret%2F&path=tenant%2Facme%2Fnexa"]')
    browser.wait("#secret-data")
    browser.find_all("#secret-data .reveal")[0].click()
    assert browser.wait("#secret-data .value").text == "acme-nexa-value"

    # Another tenant's folder and secret: permission denied, and none of its names.
    for path in ("tenant%2Fbeta%2F", "tenant%2Fbeta%2Fbetaonly-shopify", "tenant%2F"):
        browser.open(srv.url + f"/ui/#/kv?mount=secret%2F&path={path}")
        assert browser.wait_error() == "permission denied"
        assert "betaonly" not in browser.driver.page_source
    # The mount's top: the tenant user may not list it.
    browser.open(srv.url + "/ui/#/kv?mount=secret%2F&path=")
    assert browser.wait_error() == "permission denied"
    assert "beta" not in browser.driver.page_source


def test_tenants_table_and_a_row_the_token_may_not_list(ui_server, browser):
    srv = ui_server
    write_tenants(srv)
    login_with_token(browser, srv.url, srv.root_token)
    browser.open(srv.url + "/ui/#/tenants")
    acme = browser.wait('#tenants tr[data-tenant="acme"]').text
    browser.wait('#tenants tr[data-tenant="beta"]')
    assert secret_links(browser, "acme") == ["nexa", "smtp"]
    assert secret_links(browser, "beta") == ["betaonly-shopify"]
    updated = ok(srv.api.get("secret/metadata/tenant/acme/smtp"))["data"]["updated_time"]
    assert updated in acme, "the last change is the newest updated_time"
    assert browser.find_all("#tenant-mount option[value='secret/']")
    browser.screenshot("tenants")

    # May list the tenants but only acme's folder: beta's row says so, without its secrets.
    policy = 'path "secret/metadata/tenant/" { capabilities = ["list"] }\npath "secret/metadata/tenant/acme/*" { capabilities = ["read", "list"] }'
    ok(srv.api.put("sys/policies/acl/lister", {"policy": policy}))
    token = ok(srv.api.post("auth/token/create", {"policies": ["lister"]}))["auth"]["client_token"]
    browser.click("#logout")
    login_with_token(browser, srv.url, token)
    browser.open(srv.url + "/ui/#/tenants")
    browser.wait('#tenants tr[data-tenant="acme"]')
    hidden = browser.wait("#tenants tr.not-visible")
    assert "beta" in hidden.text and "not visible" in hidden.text
    assert not browser.find_all("#tenants-denied")
    assert "betaonly" not in browser.driver.page_source
    browser.screenshot("tenants-row-not-visible")

    # No list at all: "permission denied", no rows.
    token = ok(srv.api.post("auth/token/create", {"policies": ["default"]}))["auth"]["client_token"]
    browser.click("#logout")
    login_with_token(browser, srv.url, token)
    browser.open(srv.url + "/ui/#/tenants")
    assert "permission denied" in browser.wait("#tenants-denied").text
    assert not browser.find_all("#tenants") and "acme" not in browser.driver.page_source


def test_policy_editor_warns_before_saving_and_saves(ui_server, browser):
    srv = ui_server
    # What the server says about the typo, to compare the editor's warning with.
    server_warning = ok(srv.api.put("sys/policies/acl/probe", {"policy": TYPO_POLICY}))["warnings"]
    ok(srv.api.delete("sys/policies/acl/probe"))
    assert len(server_warning) == 1 and '"+"' in server_warning[0]

    login_with_token(browser, srv.url, srv.root_token)
    browser.click('#nav a[href="#/policies"]')
    policies = browser.wait("#policies").text
    assert "default" in policies and "root" in policies
    browser.screenshot("policies")
    browser.click("#create-policy")
    browser.type("#policy-name", "typo")
    browser.type("#policy-editor", TYPO_POLICY)
    # Shown as the user types, before any save, and the same words as the server's.
    warnings = browser.wait("#policy-warnings")
    assert warnings.text == server_warning[0]
    assert srv.api.get("sys/policies/acl/typo").status_code == 404, "nothing was saved yet"
    browser.screenshot("policy-warning")

    # The fix clears it; the Check button agrees.
    clean = 'path "secret/data/tenant/+/nexa" {\n  capabilities = ["read"]\n}'
    browser.type("#policy-editor", clean)
    browser.click("#check-policy")
    assert not browser.find_all("#policy-warnings:not([hidden])")
    browser.click("#save-policy")
    assert browser.wait("#policy-text").text == clean
    assert not browser.find_all("#server-warnings:not([hidden])")
    assert ok(srv.api.get("sys/policies/acl/typo"))["data"]["policy"] == clean
    assert hvac.Client(url=srv.url, token=srv.root_token).sys.read_acl_policy("typo")["data"]["policy"] == clean
    browser.screenshot("policy")

    # Edit, saving a policy with the typo anyway: the server's warning is shown after the save.
    browser.click("#edit-policy")
    browser.type("#policy-editor", TYPO_POLICY)
    browser.wait("#policy-warnings")
    browser.screenshot("policy-edit")
    browser.click("#save-policy")
    assert browser.wait("#server-warnings").text == server_warning[0]
    assert ok(srv.api.get("sys/policies/acl/typo"))["data"]["policy"] == TYPO_POLICY

    # Delete: the server refuses default, with its message; typo goes.
    browser.open(srv.url + "/ui/#/policy?name=default")
    browser.click("#delete-policy")
    assert "cannot delete default policy" in browser.wait_error()
    browser.open(srv.url + "/ui/#/policy?name=typo")
    browser.click("#delete-policy")
    browser.wait("#policies-page")
    assert "typo" not in browser.wait("#policies").text
    assert srv.api.get("sys/policies/acl/typo").status_code == 404


def test_token_page_shows_policies_and_renew_changes_the_ttl(ui_server, browser):
    srv = ui_server
    ok(srv.api.put("sys/policies/acl/reader", {"policy": 'path "secret/*" { capabilities = ["read"] }'}))
    token = ok(srv.api.post("auth/token/create", {"policies": ["reader"], "ttl": "1h"}))["auth"]["client_token"]
    login_with_token(browser, srv.url, token)
    browser.click('#nav a[href="#/token"]')
    info = browser.wait("#token-info")
    assert "reader" in browser.wait('#token-info td[data-field="Policies"]').text
    assert browser.wait('#token-info td[data-field="Renewable"]').text == "yes"
    ttl = browser.wait("#token-ttl").text
    assert ttl.startswith(("59m", "1h0m")), ttl
    assert token not in info.text and token not in browser.driver.page_source
    browser.screenshot("token")
    browser.type("#renew-increment", "2h")
    browser.click("#renew-token")
    assert "1h59m" in browser.wait("#renewed").text or "2h0m0s" in browser.wait("#renewed").text
    assert browser.wait("#token-ttl").text.startswith(("1h59m", "2h0m"))
    assert ok(srv.api.get("auth/token/lookup-self", token=token))["data"]["ttl"] > 3600
    # It counts down.
    first = browser.wait("#token-ttl").text
    browser.wait_until(lambda: browser.wait("#token-ttl").text != first, timeout=5)
    browser.screenshot("token-renewed")


def test_access_pages_and_entity_metadata_edit(ui_server, browser):
    srv = ui_server
    ok(srv.api.post("sys/auth/approle", {"type": "approle"}))
    ok(srv.api.post("auth/approle/role/billing", {"token_policies": "billing-read", "token_ttl": "20m"}))
    ok(srv.api.post("sys/auth/userpass", {"type": "userpass"}))
    ok(srv.api.post("auth/userpass/users/carol", {"password": "pw", "token_policies": "ops"}))
    entity = ok(srv.api.post("identity/entity", {"name": "carol-entity", "policies": ["ops"], "metadata": {"tenant_id": "acme"}}))["data"]["id"]
    ok(srv.api.post("identity/group", {"name": "admins", "policies": ["admin"], "member_entity_ids": [entity]}))
    login_with_token(browser, srv.url, srv.root_token)

    # Each list by its link, with what the API wrote in it.
    for link, table, words in (
        ('#nav a[href="#/access"]', "#auth-methods", ["approle/", "userpass/", "token/"]),
        ('#auth-methods a[href="#/approle?mount=approle%2F"]', "#approle", ["billing", "billing-read", "20m0s"]),
        ('.subnav a[href="#/access"]', "#auth-methods", []),
        ('#auth-methods a[href="#/userpass?mount=userpass%2F"]', "#userpass", ["carol", "ops"]),
        ('.subnav a[href="#/groups"]', "#groups", ["admins", "admin", "internal"]),
        ('.subnav a[href="#/entities"]', "#entities", ["carol-entity", "tenant_id=acme"]),
    ):
        browser.click(link)
        text = browser.wait(table).text
        assert all(w in text for w in words), (table, text)
        browser.screenshot(table.strip("#"))
    browser.click(f'#entities a[href="#/entity?id={entity}"]')
    browser.wait("#metadata-form")
    assert browser.wait("#custom-metadata").text.split() == ["tenant_id", "acme"]
    value = browser.find_all(".pair-value")[0]
    value.clear()
    value.send_keys("globex")
    browser.click("#add-pair")
    browser.find_all(".pair-key")[1].send_keys("note")
    browser.find_all(".pair-value")[1].send_keys(XSS)
    browser.click("#save-metadata")
    browser.wait_text("#custom-metadata", XSS)
    assert ok(srv.api.get(f"identity/entity/id/{entity}"))["data"]["metadata"] == {"tenant_id": "globex", "note": XSS}
    assert "globex" in browser.wait("#custom-metadata").text
    assert not browser.find_all("main img"), "a metadata value became an element"
    browser.assert_no_alert()
    browser.screenshot("entity")
    # In the entities list too, the value is text.
    browser.click('.subnav a[href="#/entities"]')
    assert XSS in browser.wait("#entities").text
    assert not browser.find_all("main img")
    browser.assert_no_alert()


def test_a_long_list_is_paged(ui_server, browser):
    srv = ui_server
    s = requests.Session()
    s.headers["X-Vault-Token"] = srv.root_token
    for i in range(1200):
        r = s.post(f"{srv.url}/v1/secret/data/many/k{i:04d}", json={"data": {"v": str(i)}}, timeout=10)
        assert r.status_code == 200, r.text
    keys = ok(srv.api.list("secret/metadata/many/"))["data"]["keys"]
    assert len(keys) == 1200
    login_with_token(browser, srv.url, srv.root_token)
    started = time.monotonic()
    browser.open(srv.url + "/ui/#/kv?mount=secret%2F&path=many%2F")
    browser.wait("#entries")
    assert time.monotonic() - started < 5, "the first page of 1,200 keys draws within seconds"
    shown = [a.text for a in browser.find_all("#entries a")]
    assert shown == keys[:100]
    assert browser.wait("#page-info").text.startswith("Page 1 of 12")
    assert not browser.find_all("#page-prev")
    browser.screenshot("paging")
    browser.click("#page-next")
    browser.wait_text("#page-info", "Page 2 of 12")
    assert [a.text for a in browser.find_all("#entries a")] == keys[100:200]
    browser.click("#page-prev")
    browser.wait_text("#page-info", "Page 1 of 12")
    browser.open(srv.url + "/ui/#/kv?mount=secret%2F&path=many%2F&page=12")
    browser.wait_text("#page-info", "Page 12 of 12")
    assert [a.text for a in browser.find_all("#entries a")] == keys[1100:]
    assert not browser.find_all("#page-next")
    # A short list is not paged.
    browser.open(srv.url + "/ui/#/kv?mount=secret%2F&path=")
    browser.wait("#entries")
    assert not browser.find_all("#page-info")


def test_navigation_by_keyboard_at_390_px(ui_server, tmp_path):
    from selenium.webdriver.common.keys import Keys

    srv = ui_server
    b = Browser(tmp_path, width=390, height=844)
    try:
        login_with_token(b, srv.url, srv.root_token)
        for page, section in (("tenants", "#tenants-page"), ("policies", "#policies-page"), ("access", "#access-page"),
                              ("token", "#token-page"), ("secrets", "#mounts-page")):
            # Tab from the top of the page to the header's link, then Enter.
            b.driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
            body = b.driver.find_element("css selector", "body")
            body.send_keys(Keys.TAB)
            for _ in range(12):
                if (b.driver.switch_to.active_element.get_attribute("href") or "").endswith(f"#/{page}") and \
                        b.driver.switch_to.active_element.get_attribute("class") != "brand":
                    break
                b.driver.switch_to.active_element.send_keys(Keys.TAB)
            else:
                pytest.fail(f"no header link to #/{page} by Tab")
            b.driver.switch_to.active_element.send_keys(Keys.ENTER)
            b.wait(section)
            width = b.driver.execute_script("return document.documentElement.scrollWidth")
            assert width <= 390, f"#/{page} scrolls sideways at 390 px: {width}"
            b.screenshot(f"{page}-390")
    finally:
        b.close()


def test_the_editors_lint_says_what_the_server_says(ui_server, browser):
    """The editor's client-side lint and the server's `warnings` agree, word for word."""
    srv = ui_server
    policies = [
        TYPO_POLICY,
        'path "a/*/b/*/*" { capabilities = ["read"] }',
        'path "a/b*c" { capabilities = ["read"] }\npath "a/**" { capabilities = ["list"] }',
        'path "a/b+c" { capabilities = ["read"] }\npath "a/+b/*" { capabilities = ["read"] }',
        'path "x/*/y+z/*" { capabilities = ["read"] }',
        'path "secret/data/tenant/+/nexa" { capabilities = ["read"] }\npath "*" { capabilities = ["read"] }',
        'path "secret/data/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read"] }',
        '# path "not/*/a/rule" in a comment\npath "secret/*" { capabilities = ["read"] } // path "c/*/d"',
        '/* path "e/a+b" */ path "g/*/h" { capabilities = ["read"] } # "#" path "i/*/j"',
        '{"path": {"j/*/k": {"capabilities": ["read"]}, "j/+": {"capabilities": ["read"]}}}',
    ]
    login_with_token(browser, srv.url, srv.root_token)
    browser.open(srv.url + "/ui/#/policy-edit?create=1")
    browser.wait("#policy-editor")
    for i, text in enumerate(policies):
        server = ok(srv.api.put(f"sys/policies/acl/lint{i}", {"policy": text})).get("warnings") or []
        client = browser.driver.execute_script("return lintPolicy(arguments[0])", text)
        assert client == server, (text, client, server)
    errors = [e for e in browser.driver.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not errors, errors

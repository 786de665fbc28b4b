"""The web UI at /ui/: its headers and files over HTTP, and its pages in Debian's chromium.

The browser tests drive the real binary through Selenium with `/usr/bin/chromedriver`, and save
a screenshot of each page under the test's tmp_path. They skip, saying why, only when chromium
or chromedriver is missing (tests/run installs both).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import hvac
import pytest
import requests

from conftest import free_port

pytestmark = pytest.mark.mainkey_only

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ASSETS = {
    "/ui/": "text/html",
    "/ui/index.html": "text/html",
    "/ui/app.js": "text/javascript",
    "/ui/admin.js": "text/javascript",
    "/ui/api.js": "text/javascript",
    "/ui/style.css": "text/css",
}
XSS = "<img src=x onerror=alert(1)>"


def get(srv, path: str, **kw) -> requests.Response:
    return requests.get(srv.url + path, allow_redirects=False, timeout=10, **kw)


def check_security_headers(r: requests.Response, path: str) -> None:
    assert r.headers.get("Content-Security-Policy") == CSP, path
    assert "unsafe" not in r.headers["Content-Security-Policy"], path
    assert r.headers.get("X-Frame-Options") == "DENY", path
    assert r.headers.get("Referrer-Policy") == "no-referrer", path
    assert r.headers.get("X-Content-Type-Options") == "nosniff", path
    assert r.headers.get("Cache-Control") == "no-store", path


@pytest.fixture
def ui_server(servers):
    srv = servers.target(top_extra="ui = true")
    srv.init_unseal()
    srv.api.enable_kv("secret", 2)
    return srv


# ---------------------------------------------------------------- HTTP


def test_files_carry_the_security_headers_and_their_types(ui_server):
    for path, kind in ASSETS.items():
        r = get(ui_server, path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"].startswith(kind), (path, r.headers["Content-Type"])
        check_security_headers(r, path)
    head = requests.head(ui_server.url + "/ui/app.js", timeout=10)
    assert head.status_code == 200 and head.headers["Content-Type"].startswith("text/javascript")


def test_root_redirects_to_the_ui(ui_server):
    for path in ("/", "/ui"):
        r = get(ui_server, path)
        assert r.status_code == 307 and r.headers["Location"] == "/ui/", path
        check_security_headers(r, path)


def test_path_tricks_reach_no_other_file_and_unknown_names_are_404(ui_server):
    for path in (
        "/ui/../v1/sys/seal-status",
        "/ui/%2e%2e/v1/sys/seal-status",
        "/ui/%2E%2E/%2E%2E/etc/passwd",
        "/ui/..%2fv1%2fsys%2fseal-status",
        "/ui//app.js",
        "/ui/./app.js",
        "/ui/app.js/",
        "/ui/nosuch.js",
        "/ui/secrets/secret/a",
    ):
        # Sent raw: requests would normalise `..` away before it reached the server.
        s = requests.Session()
        req = requests.Request("GET", ui_server.url + "/ui/").prepare()
        req.url = ui_server.url + path
        r = s.send(req, allow_redirects=False, timeout=10)
        assert r.status_code == 404, (path, r.status_code, r.text[:200])
        assert "sealed" not in r.text and "root" not in r.text, path
        check_security_headers(r, path)
    # The API is where it was.
    assert get(ui_server, "/v1/sys/seal-status").json()["sealed"] is False
    r = requests.post(ui_server.url + "/ui/app.js", timeout=10)
    assert r.status_code == 405


def test_assets_are_small_and_refer_to_nothing_outside(ui_server):
    total = 0
    for path in ASSETS:
        if path == "/ui/index.html":
            continue
        body = get(ui_server, path).text
        total += len(body.encode())
        assert not re.search(r"https?://", body), path
        # Protocol-relative addresses in attributes or CSS.
        assert not re.search(r"""(src|href|action)\s*=\s*["']?//|url\(\s*["']?//""", body), path
        for ref in re.findall(r"""(?:src|href)="([^"#]+)""", body):
            assert ref.startswith("/ui/"), (path, ref)
    assert total < 300 * 1024, total
    # The page loads nothing inline: every script is a file.
    index = get(ui_server, "/ui/").text
    assert re.findall(r"<script[^>]*>([^<]*)</script>", index) == ["", "", ""]
    assert not re.search(r"\son[a-z]+=", index)


def test_ui_off_is_404_as_before(servers):
    srv = servers.target()
    for path in ("/ui/", "/ui/app.js", "/"):
        r = get(srv, path)
        assert r.status_code == 404, path
        assert "Content-Security-Policy" not in r.headers


def test_dev_mode_serves_the_ui(servers):
    port = free_port()
    srv = servers.mainkey(["server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"], port=port)
    r = get(srv, "/ui/")
    assert r.status_code == 200 and "mainkey" in r.text
    check_security_headers(r, "/ui/")


# ---------------------------------------------------------------- browser

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
CHROMEDRIVER = "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; tests/run does)",
)


class Browser:
    """A headless chromium page with the few steps these tests take, and screenshots."""

    def __init__(self, tmp: Path, width: int = 1280, height: int = 900):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                    f"--user-data-dir={tmp / 'chromium-profile'}", "--no-first-run", "--disable-extensions"):
            opts.add_argument(arg)
        if os.geteuid() == 0:
            opts.add_argument("--no-sandbox")
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(30)
        # Headless chromium keeps windows at least 500 px wide; a phone's viewport is emulated.
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )
        self.tmp = tmp
        self.shots: list[Path] = []

    def close(self) -> None:
        self.driver.quit()

    def open(self, url: str) -> None:
        self.driver.get(url)

    def wait(self, css: str, timeout: float = 10):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def wait_text(self, css: str, text: str, timeout: float = 10):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def type(self, css: str, text: str) -> None:
        field = self.wait(css)
        field.clear()
        field.send_keys(text)

    def click(self, css: str) -> None:
        self.wait(css).click()

    def select(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.wait(css)).select_by_value(value)

    def session_storage(self) -> dict:
        return json.loads(self.driver.execute_script("return JSON.stringify(Object.assign({}, sessionStorage));"))

    def screenshot(self, name: str) -> Path:
        path = self.tmp / "screenshots" / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        assert self.driver.save_screenshot(str(path)), name
        assert path.stat().st_size > 1000, name
        self.shots.append(path)
        return path

    def assert_no_alert(self) -> None:
        from selenium.common.exceptions import NoAlertPresentException

        with pytest.raises(NoAlertPresentException):
            self.driver.switch_to.alert.text  # noqa: B018 - the access itself is the check

    def wait_error(self, timeout: float = 10) -> str:
        """The error box's text, once it shows one."""
        from selenium.webdriver.support.ui import WebDriverWait

        box = self.wait_present("#error")
        WebDriverWait(self.driver, timeout).until(lambda _: box.is_displayed() and box.text)
        return box.text

    def wait_until(self, condition, timeout: float = 10) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda _: condition()
        )

    def wait_present(self, css: str, timeout: float = 10):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path)
    try:
        yield b
    finally:
        b.close()


def login_with_token(b: Browser, url: str, token: str) -> None:
    b.open(url + "/ui/")
    b.wait("#login-form")
    b.type("#login-token", token)
    b.click("#login-submit")
    b.wait("#mounts-page")


@needs_browser
def test_unseal_through_the_form_one_key_at_a_time(servers, browser):
    srv = servers.target(top_extra="ui = true")
    keys = srv.api.init(shares=5, threshold=3)["keys"]
    browser.open(srv.url + "/")  # the redirect to /ui/
    browser.wait("#unseal-form")
    assert browser.driver.current_url.startswith(srv.url + "/ui/")
    assert browser.wait("#unseal-progress").text == "0/3"
    # Sealed: the seal page and nothing else (no login, no navigation).
    browser.wait_text("#seal-page", "Sealed")
    assert not browser.find_all("#login-form") and not browser.find_all("#nav:not([hidden])")
    browser.screenshot("seal")
    for n, key in enumerate(keys[:2], start=1):
        browser.type("#unseal-key", key)
        browser.click("#unseal-submit")
        browser.wait_text("#unseal-progress", f"{n}/3")
        assert srv.api.seal_status()["progress"] == n
    browser.screenshot("seal-progress")
    browser.type("#unseal-key", "not-a-key")
    browser.click("#unseal-submit")
    assert browser.wait_error(), "a bad key shows the server's error"
    assert srv.api.seal_status()["sealed"] is True
    browser.type("#unseal-key", keys[2])
    browser.click("#unseal-submit")
    browser.wait("#login-form")
    assert srv.api.seal_status()["sealed"] is False
    browser.screenshot("login")


@needs_browser
def test_login_by_token_and_by_userpass_and_logout(ui_server, browser):
    srv = ui_server
    # A wrong token: Vault's message, and nothing kept.
    browser.open(srv.url + "/ui/")
    browser.type("#login-token", "s.wrongwrongwrongwrongwron")
    browser.click("#login-submit")
    assert browser.wait_text("#error", "permission denied")
    assert browser.session_storage() == {}

    login_with_token(browser, srv.url, srv.root_token)
    assert browser.session_storage() == {"mainkey.token": srv.root_token}
    assert srv.root_token not in browser.driver.current_url
    assert not browser.driver.get_cookies()
    assert "secret/" in browser.wait("#mounts").text
    browser.screenshot("mounts")
    browser.click("#logout")
    browser.wait("#login-form")
    assert browser.session_storage() == {}

    # userpass on a non-default mount, chosen as Vault's UI does: method, then mount path.
    assert srv.api.post("sys/auth/people", {"type": "userpass"}).status_code in (200, 204)
    assert srv.api.put("sys/policy/reader", {"policy": 'path "secret/*" { capabilities = ["read", "list"] }'}).status_code in (200, 204)
    r = srv.api.post("auth/people/users/alice", {"password": "correct horse", "token_policies": "reader"})
    assert r.status_code in (200, 204), r.text
    browser.select("#login-method", "userpass")
    browser.type("#login-mount", "people")
    browser.type("#login-username", "alice")
    browser.type("#login-password", "wrong")
    browser.click("#login-submit")
    assert browser.wait_error()
    assert browser.session_storage() == {}
    browser.type("#login-password", "correct horse")
    browser.screenshot("login-userpass")
    browser.click("#login-submit")
    browser.wait("#mounts-page")
    token = browser.session_storage()["mainkey.token"]
    me = srv.api.get("auth/token/lookup-self", token=token).json()["data"]
    assert me["meta"]["username"] == "alice" and "reader" in me["policies"]
    assert token not in browser.driver.current_url and not browser.driver.get_cookies()
    # A path this token may not read: the server's "permission denied", nothing else.
    browser.open(srv.url + "/ui/#/kv?mount=sys%2F&path=policy%2Froot")
    assert browser.wait_text("#error", "permission denied")
    browser.click("#logout")
    browser.wait("#login-form")
    assert browser.session_storage() == {}


@needs_browser
def test_create_edit_read_back_and_the_versions(ui_server, browser):
    srv = ui_server
    client = hvac.Client(url=srv.url, token=srv.root_token)
    login_with_token(browser, srv.url, srv.root_token)
    browser.click('a[href="#/kv?mount=secret%2F&path="]')
    browser.wait("#folder-page")
    browser.click("#create-secret")
    browser.wait("#secret-form")
    browser.type("#secret-path", "app/db")
    browser.find_all(".pair-key")[0].send_keys("password")
    browser.find_all(".pair-value")[0].send_keys("first")
    browser.screenshot("create")
    browser.click("#save-secret")
    browser.wait_text("#secret-version", "Version 1 of 1")
    assert client.secrets.kv.v2.read_secret_version("app/db", mount_point="secret")["data"]["data"] == {"password": "first"}

    # Edit: a new version, written with cas = the version it was based on.
    browser.click("#edit-secret")
    browser.wait_text("#edit-page", "Saving creates version 2")
    value = browser.find_all(".pair-value")[0]
    value.clear()
    value.send_keys("second")
    browser.click("#add-pair")
    browser.find_all(".pair-key")[1].send_keys("user")
    browser.find_all(".pair-value")[1].send_keys("app")
    browser.screenshot("edit")
    browser.click("#save-secret")
    browser.wait_text("#secret-version", "Version 2 of 2")
    read = client.secrets.kv.v2.read_secret_version("app/db", mount_point="secret")["data"]
    assert read["data"] == {"password": "second", "user": "app"} and read["metadata"]["version"] == 2

    # Masked until revealed.
    cells = {c.get_attribute("data-key"): c for c in browser.find_all("#secret-data .value")}
    assert cells["password"].text == "••••••••" and "second" not in browser.wait("#secret-page").text
    browser.find_all("#secret-data .reveal")[0].click()
    assert cells["password"].text == "second"
    history = browser.wait("#version-history").text
    assert "1" in history and "2" in history
    browser.screenshot("secret")

    # An edit based on a stale version is refused by check-and-set, with the server's message.
    browser.click("#edit-secret")
    browser.wait("#secret-form")
    client.secrets.kv.v2.create_or_update_secret("app/db", secret={"password": "third"}, mount_point="secret")
    browser.click("#save-secret")
    assert "check-and-set" in browser.wait_text("#error", "check").text
    assert client.secrets.kv.v2.read_secret_version("app/db", mount_point="secret")["data"]["data"] == {"password": "third"}

    # Delete, undelete and destroy the latest version (3).
    browser.open(srv.url + "/ui/#/kv?mount=secret%2F&path=app%2Fdb")
    browser.wait_text("#secret-version", "Version 3 of 3")
    browser.click("#delete-version")
    browser.wait_text("#secret-version", "(deleted)")
    assert client.secrets.kv.v2.read_secret_metadata("app/db", mount_point="secret")["data"]["versions"]["3"]["deletion_time"]
    browser.screenshot("secret-deleted")
    browser.click("#undelete-version")
    # The page is drawn again: wait for the state to go, not for text the old page also had.
    browser.wait_until(lambda: browser.wait("#secret-version").text == "Version 3 of 3")
    browser.click("#destroy-version")
    browser.wait_text("#secret-version", "(destroyed)")
    assert client.secrets.kv.v2.read_secret_metadata("app/db", mount_point="secret")["data"]["versions"]["3"]["destroyed"] is True
    # An older version is still there to read.
    browser.click('#version-history a[href$="version=2"]')
    browser.wait_text("#secret-version", "Version 2 of 3")

    # KV v1: browse and read.
    srv.api.enable_kv("kv1", 1)
    assert srv.api.post("kv1/team/one", {"k": "v1value"}).status_code == 204
    browser.open(srv.url + "/ui/#/kv?mount=kv1%2F&path=")
    browser.click('a[href="#/kv?mount=kv1%2F&path=team%2F"]')
    browser.click('a[href="#/kv?mount=kv1%2F&path=team%2Fone"]')
    browser.wait("#secret-data")
    browser.find_all("#secret-data .reveal")[0].click()
    assert browser.wait("#secret-data .value").text == "v1value"


@needs_browser
def test_hostile_values_render_as_text_and_open_no_dialog(ui_server, browser):
    srv = ui_server
    client = hvac.Client(url=srv.url, token=srv.root_token)
    login_with_token(browser, srv.url, srv.root_token)
    # The value is typed into the UI; the metadata value and a key name come from hvac.
    browser.open(srv.url + "/ui/#/edit?mount=secret%2F&path=&create=1")
    browser.type("#secret-path", "xss")
    browser.find_all(".pair-key")[0].send_keys("payload")
    browser.find_all(".pair-value")[0].send_keys(XSS)
    browser.click("#save-secret")
    browser.wait_text("#secret-version", "Version 1")
    client.secrets.kv.v2.update_metadata("xss", custom_metadata={"note": XSS}, mount_point="secret")
    client.secrets.kv.v2.create_or_update_secret(XSS, secret={XSS: XSS}, mount_point="secret")
    browser.driver.refresh()
    browser.wait_text("#custom-metadata", XSS)
    browser.find_all("#secret-data .reveal")[0].click()
    assert browser.wait("#secret-data .value").text == XSS
    assert not browser.find_all("#secret-page img"), "a value became an element"
    browser.assert_no_alert()
    browser.screenshot("xss-secret")
    # A key that is itself markup, in the folder listing and on its page.
    browser.open(srv.url + "/ui/#/kv?mount=secret%2F&path=")
    assert XSS in browser.wait("#entries").text
    assert not browser.find_all("#entries img")
    [link] = [a for a in browser.find_all("#entries a") if a.text == XSS]
    link.click()
    browser.wait_text("h1", XSS)
    assert not browser.find_all("main img")
    browser.assert_no_alert()
    # Markup in the address's fragment (a link someone sent) is text too.
    browser.open(srv.url + "/ui/#/kv?mount=" + requests.utils.quote(XSS + "/", safe="") + "&path=")
    browser.wait_error()
    assert not browser.find_all("main img") and not browser.find_all("#error img")
    browser.assert_no_alert()
    errors = [e for e in browser.driver.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not errors, errors
    browser.screenshot("xss-key")


@needs_browser
def test_narrow_screen_and_keyboard(ui_server, tmp_path):
    from selenium.webdriver.common.keys import Keys

    b = Browser(tmp_path, width=390, height=844)
    try:
        b.open(ui_server.url + "/ui/")
        field = b.wait("#login-token")
        # Keyboard only: the token field has focus, Enter submits the real form.
        assert b.driver.switch_to.active_element == field
        field.send_keys(ui_server.root_token, Keys.ENTER)
        b.wait("#mounts-page")
        assert b.driver.execute_script("return window.innerWidth") == 390
        width = b.driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px: {width}"
        b.screenshot("mounts-390")
    finally:
        b.close()


@needs_browser
def test_a_narrow_token_sees_what_it_may_and_permission_denied_elsewhere(ui_server, browser):
    srv = ui_server
    policy = 'path "secret/data/tenant/a/*" { capabilities = ["read"] }'
    assert srv.api.put("sys/policy/tenant-a", {"policy": policy}).status_code in (200, 204)
    for tenant in ("a", "b"):
        r = srv.api.post(f"secret/data/tenant/{tenant}/nexa", {"data": {"api_key": f"key-{tenant}"}})
        assert r.status_code == 200, r.text
    token = srv.api.post("auth/token/create", {"policies": ["tenant-a"]}).json()["auth"]["client_token"]
    login_with_token(browser, srv.url, token)
    assert "secret/" in browser.wait("#mounts").text
    # Data without metadata: the secret shows, the metadata says why it is missing.
    browser.open(srv.url + "/ui/#/kv?mount=secret%2F&path=tenant%2Fa%2Fnexa")
    browser.wait("#metadata-denied")
    browser.find_all("#secret-data .reveal")[0].click()
    assert browser.wait("#secret-data .value").text == "key-a"
    # Another tenant's secret and the folder above: "permission denied", and no names.
    for path in ("tenant%2Fb%2Fnexa", "tenant%2F"):
        browser.open(srv.url + f"/ui/#/kv?mount=secret%2F&path={path}")
        assert browser.wait_error() == "permission denied"
        assert "key-b" not in browser.driver.page_source and "nexa" not in browser.wait("main").text
    browser.screenshot("permission-denied")


@needs_browser
def test_another_site_cannot_frame_the_ui(ui_server, browser, tmp_path):
    """Clickjacking: a page elsewhere that frames /ui/ gets a refused frame, not the login form."""
    page = tmp_path / "frame.html"
    page.write_text(f'<!doctype html><iframe id="f" src="{ui_server.url}/ui/" width="600" height="400"></iframe>')
    browser.open(page.as_uri())
    browser.wait("#f")
    deadline = time.monotonic() + 10
    refused = []
    while time.monotonic() < deadline and not refused:
        refused = [e["message"] for e in browser.driver.get_log("browser")
                   if "frame-ancestors" in e.get("message", "") or "X-Frame-Options" in e.get("message", "")]
        time.sleep(0.1)
    assert refused, "chromium did not refuse the frame"
    browser.driver.switch_to.frame("f")
    assert not browser.find_all("#login-form")
    browser.driver.switch_to.default_content()

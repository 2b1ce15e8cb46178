"""The console in a real browser (headless Chromium): sign in as the bootstrapped Owner and
walk seed 003's flows, saving a screenshot of each step.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/test`` installs them when
missing) and the server binary (``$WARDEN_BIN``, default ``target/debug/warden``). Without
Chromium the test skips, unless ``CI`` is set, where it fails saying how to get it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("WARDEN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("WARDEN_CHROMEDRIVER", "/usr/bin/chromedriver")
PASSWORD = "analytical engine"


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return
    message = (
        f"headless Chromium is needed at {', '.join(missing)}: "
        "`apt-get install -y chromium chromium-driver` (scripts/test does it when it can), "
        "or set WARDEN_CHROMIUM and WARDEN_CHROMEDRIVER"
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture()
def server(tmp_path: Path):
    binary = Path(os.environ.get("WARDEN_BIN", ROOT / "target" / "debug" / "warden"))
    if not binary.is_file():
        pytest.fail(f"no server binary at {binary}: run `cargo build -p warden`", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env["WARDEN_LOG"] = "warn"
    boot = subprocess.run(
        [str(binary), "bootstrap", "--org", "Acme", "--owner-email", "ada@acme.example"],
        cwd=tmp_path,
        env={**env, "WARDEN_OWNER_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        check=True,
    )
    key = boot.stdout.strip()
    proc = subprocess.Popen(
        [str(binary), "serve", "--listen", "127.0.0.1:0"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = None
    deadline = time.time() + 30
    assert proc.stderr is not None
    while time.time() < deadline:
        line = proc.stderr.readline()
        m = re.match(r"warden listening on (\S+)", line)
        if m:
            base = m.group(1)
            break
    if base is None:
        proc.kill()
        pytest.fail("warden serve did not start", pytrace=False)
    try:
        yield base, key
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _invite(base: str, key: str, email: str, name: str) -> str:
    """A second person in Acme, arrived through an invitation; returns the user id."""
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=h) as c:
        org = c.get("/v1/me").json()["org"]["id"]
        r = c.post(f"/v1/orgs/{org}/invitations", json={"emails": [email], "role_id": "Member"})
        r.raise_for_status()
        token = r.json()["invitations"][0]["token"]
    r = httpx.post(
        f"{base}/v1/invitations/accept",
        json={"token": token, "name": name, "password": PASSWORD},
    )
    r.raise_for_status()
    return r.json()["user"]["id"]


@pytest.fixture()
def browser():
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def _fits(browser) -> None:
    """The page is no wider than the window: nothing to scroll sideways."""
    wide = browser.execute_script("return document.documentElement.scrollWidth")
    window = browser.execute_script("return window.innerWidth")
    assert wide <= window, f"{browser.current_url} is {wide}px wide in a {window}px window"


def test_seed_003_in_the_console(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, key = server
    ann = _invite(base, key, "ann@acme.example", "Ann")
    shots = Path(os.environ.get("WARDEN_SCREENSHOTS") or tempfile.mkdtemp(prefix="warden-console-"))
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    print(f"\nscreenshots of each step: {shots}")
    step = iter(range(1, 100))

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"{next(step):02d}-{name}.png"))

    def text() -> str:
        return browser.find_element(By.TAG_NAME, "main").text

    def go(element) -> None:
        """Clicks what loads a new page, and waits until it has (the old page is gone and
        the new one is loaded)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        old = browser.find_element(By.TAG_NAME, "html")
        element.click()

        def replaced(_driver) -> bool:
            try:
                old.is_enabled()
                return False
            except WebDriverException:
                return browser.execute_script("return document.readyState") == "complete"

        WebDriverWait(browser, 15).until(replaced)

    # Sign in as the bootstrapped Owner.
    browser.get(base)
    assert browser.current_url.endswith("/console/sign-in")
    shot("sign-in")
    browser.find_element(By.ID, "email").send_keys("ada@acme.example")
    browser.find_element(By.ID, "password").send_keys("not it")
    go(browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "the email or the password is wrong" in text()
    assert browser.find_element(By.ID, "email").get_attribute("value") == "ada@acme.example"
    shot("wrong-password")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    go(browser.find_element(By.CSS_SELECTOR, "main button[type=submit]"))
    assert browser.current_url.endswith("/console/org"), text()
    assert "Your role in this organization: Owner" in text()
    shot("organization")

    # A project, then its settings: Roles & Permissions.
    browser.find_element(By.ID, "project-name").send_keys("Chatbot")
    go(browser.find_element(By.CSS_SELECTOR, "form[action='/console/org/projects'] button"))
    assert "Project “Chatbot” created." in text()
    go(browser.find_element(By.LINK_TEXT, "Chatbot"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Roles & Permissions"
    for role in ("Owner", "Manager", "Member"):
        assert role in browser.find_element(By.ID, "default-roles").find_element(By.XPATH, "following-sibling::section").text
    shot("roles-and-permissions")

    # Custom Policies → New Policy: "Annotator" with dataset:read and dataset:update.
    browser.find_element(By.ID, "policy-name").send_keys("Annotator")
    browser.find_element(By.ID, "policy-description").send_keys("Read and edit datasets")
    for perm in ("dataset:read", "dataset:update"):
        browser.find_element(By.CSS_SELECTOR, f"input[aria-label='{perm}']").click()
    shot("new-policy")
    go(browser.find_element(By.CSS_SELECTOR, "form[action$='/policies'] button[type=submit]"))
    assert "Policy “Annotator” created." in text(), text()[:600]
    assert "dataset:read, dataset:update" in text()
    shot("policy-created")

    # New Role: name, description, the policy; Save.
    browser.find_element(By.ID, "role-name").send_keys("Annotator")
    browser.find_element(By.ID, "role-description").send_keys("Labels datasets")
    browser.find_element(By.XPATH, "//label[normalize-space()='Annotator']").click()
    shot("new-role")
    go(browser.find_element(By.CSS_SELECTOR, "form[action$='/roles'] button[type=submit]"))
    assert "Role “Annotator” created." in text()
    # The same name again: said beside the field, what was typed kept.
    browser.find_element(By.ID, "role-name").send_keys("Annotator")
    browser.find_element(By.XPATH, "//label[normalize-space()='Annotator']").click()
    go(browser.find_element(By.CSS_SELECTOR, "form[action$='/roles'] button[type=submit]"))
    assert browser.find_element(By.ID, "role-name-error").is_displayed()
    assert browser.find_element(By.ID, "role-name").get_attribute("value") == "Annotator"
    shot("duplicate-role-refused")

    # Members: give Ann the Annotator role.
    go(browser.find_element(By.LINK_TEXT, "Members"))
    Select(browser.find_element(By.ID, "add-principal")).select_by_visible_text("Ann (ann@acme.example)")
    Select(browser.find_element(By.ID, "add-role")).select_by_visible_text("Annotator")
    shot("add-member")
    go(browser.find_element(By.XPATH, "//button[normalize-space()='Add member']"))
    assert "Role set to Annotator." in text()
    assert "Ann (ann@acme.example)" in text()
    shot("member-added")

    # Her access page: where each permission comes from.
    go(browser.find_element(By.PARTIAL_LINK_TEXT, "View access"))
    assert "Access of Ann (ann@acme.example)" in text()
    row = browser.find_element(By.XPATH, "//tr[td/code[text()='dataset:update']]").text
    assert "role Annotator (project), policy Annotator" in row, row
    shot("member-access")

    # The audit log shows each step.
    browser.back()
    go(browser.find_element(By.LINK_TEXT, "Audit log"))
    log = text()
    for entry in ("member.set", "role.create", "policy.create", "ada@acme.example"):
        assert entry in log, entry
    shot("audit-log")

    # The API agrees with what the console did.
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        project = re.search(r"/console/projects/([0-9a-f-]{36})/", browser.current_url).group(1)
        r = c.post(
            "/v1/check",
            json={"principal": f"user:{ann}", "permission": "dataset:update", "project_id": project},
        )
        assert r.json()["allowed"] is True

    # A key for a service, in the project's API keys: its secret is shown once.
    go(browser.find_element(By.LINK_TEXT, "API keys"))
    browser.find_element(By.ID, "key-name").send_keys("ingest")
    go(browser.find_element(By.XPATH, "//button[normalize-space()='Create key']"))
    secret = browser.find_element(By.ID, "new-secret").text
    assert "shown only once" in text()
    shot("api-key-created")
    me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200, me.text
    browser.refresh()
    assert secret not in browser.page_source
    keys = browser.find_elements(By.XPATH, "//tbody/tr[td[1][normalize-space()='ingest']]")
    assert len(keys) == 1, "reloading the page created no second key"

    # The organization's Members: invite Bob; his link is shown once.
    go(browser.find_element(By.CSS_SELECTOR, "header a[href='/console/org']"))
    go(browser.find_element(By.CSS_SELECTOR, "nav.tabs a[href='/console/org/members']"))
    browser.find_element(By.ID, "invite-emails").send_keys("bob@acme.example")
    go(browser.find_element(By.XPATH, "//button[normalize-space()='Send invitations']"))
    link = browser.find_element(By.CSS_SELECTOR, "section.secret code").text
    assert "/console/invitations/accept?token=" in link, link
    assert "bob@acme.example" in browser.find_element(By.ID, "pending").find_element(By.XPATH, "following-sibling::section").text
    shot("invited")

    # On a phone: every settings page fits the screen's width (tables scroll in their box).
    project_base = f"{base}/console/projects/{project}"
    browser.set_window_size(390, 844)
    for page in ("settings", "roles", "members", "api-keys", "audit"):
        browser.get(f"{project_base}/{page}")
        _fits(browser)
        shot(f"phone-project-{page}")
    for page in ("", "/members", "/teams", "/roles", "/api-keys", "/audit"):
        browser.get(f"{base}/console/org{page}")
        _fits(browser)
        shot(f"phone-org{page.replace('/', '-')}")
    browser.set_window_size(1280, 1600)

    # Sign out: back to the sign-in page; the console is closed again.
    go(browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']"))
    assert browser.current_url.endswith("/console/sign-in")
    browser.get(f"{base}/console/org")
    assert browser.current_url.endswith("/console/sign-in")
    shot("signed-out")

    # Bob opens his link, chooses a password, and is signed in with the invited role.
    browser.get(link)
    assert "bob@acme.example is invited to Acme with the role Member." in text(), text()
    browser.find_element(By.ID, "name").send_keys("Bob")
    browser.find_element(By.ID, "password").send_keys("babbage difference")
    browser.find_element(By.ID, "confirm").send_keys("babbage difference")
    shot("accept-invitation")
    go(browser.find_element(By.XPATH, "//button[normalize-space()='Accept and sign in']"))
    assert browser.current_url.endswith("/console/org"), text()
    assert "Your role in this organization: Member" in text()
    assert "Bob (bob@acme.example)" in browser.find_element(By.TAG_NAME, "header").text
    shot("invited-person-signed-in")

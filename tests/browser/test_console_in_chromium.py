"""The web console in a real headless Chromium (Debian's package, driven by Playwright).

smsgate runs on the sandbox over real HTTP, so a message sent from the page reaches
``delivered`` through the sandbox's signed callbacks while the page watches. Each page is
photographed into ``artifacts/screenshots`` (``SMSGATE_ARTIFACTS`` to change it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright

from smsgate.api.app import create_app
from smsgate.config import ProviderName
from tests.conftest import SettingsFactory
from tests.support.api_keys import create_key
from tests.support.servers import free_port, serve_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(os.environ.get("SMSGATE_ARTIFACTS", Path(__file__).parents[2] / "artifacts"))


def require_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        problem = "Chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI is set, so this fails instead of skipping)")
        pytest.skip(problem)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require_chromium()
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    yield launched
    launched.close()


@pytest.fixture
def console(make_settings: SettingsFactory) -> Iterator[tuple[str, str]]:
    """A keyed smsgate on the sandbox, and an admin key to sign in with."""
    port = free_port()
    settings = make_settings(provider=ProviderName.SANDBOX, port=port)
    # Its own thread: Playwright's sync API keeps an event loop running on this one.
    with ThreadPoolExecutor(1) as pool:
        _, key = pool.submit(create_key, settings.database_url, "console", "admin").result()
    with serve_in_thread(create_app(settings), port=port) as url:
        yield url, key


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    # A script error, or a Content Security Policy violation ("Refused to ..."), fails the
    # test; an error answer the test provoked (a 401, a 400) is not a fault of the page.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def shot(page: Page, name: str) -> None:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/")
    expect(page).to_have_url(f"{url}/login")
    shot(page, "login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Send an SMS")).to_be_visible()
    page.wait_for_load_state("load")  # the page's scripts run: typing is watched


def test_sign_in_with_a_wrong_key_then_the_right_one(page: Page, console: tuple[str, str]) -> None:
    url, key = console
    page.goto(f"{url}/login")
    page.get_by_label("API key").fill("sg_live_" + "x" * 40)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The API key is not valid.")
    sign_in(page, url, key)
    expect(page.get_by_text("console", exact=True)).to_be_visible()


def test_send_a_message_and_watch_it_reach_delivered(page: Page, console: tuple[str, str]) -> None:
    url, key = console
    sign_in(page, url, key)
    page.get_by_label("Phone number").fill("+1 415 555 2671")
    expect(page.locator("#to-check")).to_contain_text("United States")
    expect(page.locator("#to-check")).to_contain_text("0.00350 a segment")
    page.get_by_label("Message").fill("Your code is 123456 ✓")
    expect(page.locator("#counter")).to_contain_text("UCS-2")
    expect(page.locator("#unicode-note mark")).to_have_text("✓")
    expect(page.locator("#counter")).to_contain_text("about 0.00350")
    shot(page, "send")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result")).to_contain_text("Accepted for +14155552671")
    page.get_by_role("link", name="Follow it").click()
    expect(page.locator("#status")).to_have_text("delivered", timeout=10_000)
    expect(page.locator("#timeline li")).to_have_count(5)
    shot(page, "message")
    page.get_by_role("link", name="Messages", exact=True).click()
    row = page.locator("#messages tbody tr").first
    expect(row).to_contain_text("+14155552671")
    expect(row).to_contain_text("delivered")
    shot(page, "messages")


def test_a_bad_number_shows_its_error_inline(page: Page, console: tuple[str, str]) -> None:
    url, key = console
    sign_in(page, url, key)
    page.get_by_label("Phone number").fill("+1415")
    expect(page.locator("#to-check")).to_contain_text("too short")
    expect(page.get_by_label("Phone number")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result")).to_contain_text("number_too_short (HTTP 400)")
    shot(page, "send-error")


def test_opt_outs_are_added_and_removed(page: Page, console: tuple[str, str]) -> None:
    url, key = console
    sign_in(page, url, key)
    page.get_by_role("link", name="Opt-outs").click()
    page.get_by_label("Add a number").fill("+14155550100")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#opt-outs tbody tr")).to_contain_text("+14155550100")
    shot(page, "opt-outs")
    page.get_by_role("button", name="Remove +14155550100").click()
    expect(page.locator("#opt-outs tbody tr")).to_have_count(0)
    expect(page.locator("#opt-out-result")).to_contain_text("Nobody has opted out")


def test_senders_are_registered_shown_on_their_messages_and_removed(
    page: Page, console: tuple[str, str]
) -> None:
    url, key = console
    sign_in(page, url, key)
    page.get_by_role("link", name="Pools").click()
    expect(page.locator("#senders-empty")).to_be_visible()
    page.get_by_label("Address").fill("Acme")
    page.get_by_label("Countries").fill("US")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#sender-result")).to_contain_text("sender_not_allowed")
    page.get_by_label("Address").fill("+1 415 555 0100")
    page.get_by_label("Countries").fill("")
    page.get_by_label("Pools").fill("default, alerts")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#sender-result")).to_contain_text("+14155550100 is registered")
    row = page.locator("#senders tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("long code")
    expect(row).to_contain_text("default, alerts")
    shot(page, "senders")
    # A message sent now goes from it, and its page says so.
    page.get_by_role("link", name="Send").click()
    page.get_by_label("Phone number").fill("+14155552671")
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result")).to_contain_text("Accepted for +14155552671")
    page.get_by_role("link", name="Follow it").click()
    expect(page.locator("#summary")).to_contain_text("+14155550100 (pool default)")
    page.get_by_role("link", name="Pools").click()
    page.get_by_role("button", name="Remove +14155550100").click()
    expect(page.locator("#senders tbody tr")).to_have_count(0)
    expect(page.locator("#senders-empty")).to_be_visible()
    expect(page.locator("#sender-result")).to_contain_text("is no longer chosen")


def test_the_console_works_at_phone_width_and_by_keyboard(
    browser: Browser, console: tuple[str, str]
) -> None:
    url, key = console
    context = browser.new_context(viewport={"width": 375, "height": 740})
    phone = context.new_page()
    sign_in(phone, url, key)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing overflows sideways
    phone.keyboard.press("Tab")  # the skip link comes first
    expect(phone.get_by_role("link", name="Skip to content")).to_be_focused()
    shot(phone, "send-phone")
    context.close()


def test_a_csv_upload_shows_its_progress_and_the_refused_rows(
    page: Page, console: tuple[str, str], tmp_path: Path
) -> None:
    url, key = console
    sign_in(page, url, key)
    rows = [
        "to,text",
        "+14155550101,Hello one",
        "+1415,too short",
        "+14155550102,Hello two",
        "+14155550101,a repeat",
    ]
    csv = tmp_path / "batch.csv"
    csv.write_text("\n".join(rows) + "\n")
    page.get_by_role("link", name="Batches").click()
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("2 accepted, 2 refused")
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    errors = page.locator("#row-errors tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("number_too_short")
    expect(errors.nth(1)).to_contain_text("duplicate_recipient")
    expect(page.locator("#send-result")).to_contain_text("2 of 2", timeout=15_000)
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download the refused rows (CSV)").click()
    saved = tmp_path / "refused.csv"
    downloaded.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0] == "line,to,code,error"
    assert lines[1].startswith("3,+1415,number_too_short,")
    shot(page, "batches")


def test_the_dashboard_shows_the_day(page: Page, console: tuple[str, str]) -> None:
    url, key = console
    sign_in(page, url, key)
    page.get_by_label("Phone number").fill("+14155552671")
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result")).to_contain_text("Accepted")
    page.wait_for_timeout(1500)  # the sandbox's delivery reports
    page.get_by_role("link", name="Dashboard").click()
    expect(
        page.get_by_role("img", name="Messages per hour by outcome, and the delivery rate")
    ).to_be_visible()
    expect(page.locator("#delivery-rate")).to_have_text("100%")
    shot(page, "dashboard")


def stored_failure(database_url: str) -> tuple[str, str]:
    """A message Plivo failed with code 30, its reason the same words as the code's meaning
    (as Plivo's answers often are): its id and those words."""
    import asyncio

    from smsgate.db.engine import make_engine, make_sessions
    from smsgate.db.rows import NewMessage, Outcome
    from smsgate.db.store import MessageStore
    from smsgate.domain.message import MessageStatus
    from smsgate.providers.plivo.errors import describe_error_code

    words = describe_error_code("30")
    assert words is not None

    async def run() -> str:
        engine = make_engine(database_url)
        store = MessageStore(make_sessions(engine))
        try:
            new = NewMessage("+14155552671", "hi", "GSM-7", 1, provider="sandbox")
            message = await store.add(new, claimed=True)
            failed = Outcome(error_code="30", error_reason=words)
            await store.record(
                message.id, MessageStatus.UNDELIVERED, source="callback", outcome=failed
            )
            return message.id
        finally:
            await store.close()
            await engine.dispose()

    return asyncio.run(run()), words


def test_a_failed_message_at_phone_width_says_its_error_once_and_fits(
    browser: Browser, make_settings: SettingsFactory
) -> None:
    """Issue #13, items 13 and 14: "X — X" was shown when Plivo's reason repeated the code's
    meaning, and the message id in the heading pushed a 375 px page sideways."""
    port = free_port()
    settings = make_settings(provider=ProviderName.SANDBOX, port=port)
    with ThreadPoolExecutor(1) as pool:
        _, key = pool.submit(create_key, settings.database_url, "console", "admin").result()
        message_id, words = pool.submit(stored_failure, settings.database_url).result()
    with serve_in_thread(create_app(settings), port=port) as url:
        context = browser.new_context(viewport={"width": 375, "height": 740})
        phone = context.new_page()
        sign_in(phone, url, key)
        phone.goto(f"{url}/messages/{message_id}")
        expect(phone.locator("#status")).to_have_text("undelivered")
        expect(phone.locator("#summary")).to_contain_text(words)
        assert phone.locator("#summary").inner_text().count(words) == 1
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        shot(phone, "message-failed-phone")
        context.close()


def test_from_today_until_today_lists_todays_messages_in_the_pages_zone(
    browser: Browser, console: tuple[str, str]
) -> None:
    """Issue #13, item 12: both ends of the date filter include their day, in the browser's
    time zone, and the page says which zone that is."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import httpx

    url, key = console
    zone = "America/Los_Angeles"
    headers = {"Authorization": f"Bearer {key}"}
    sent = httpx.post(
        f"{url}/api/v1/messages", json={"to": "+14155552671", "text": "hi"}, headers=headers
    )
    assert sent.status_code == 201, sent.text
    context = browser.new_context(viewport={"width": 1100, "height": 800}, timezone_id=zone)
    page = context.new_page()
    sign_in(page, url, key)
    page.goto(f"{url}/messages")
    today = datetime.now(ZoneInfo(zone)).date().isoformat()
    page.get_by_label("From").fill(today)
    page.get_by_label("Until").fill(today)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#messages tbody tr")).to_have_count(1)
    expect(page.locator("#messages tbody tr").first).to_contain_text("+14155552671")
    expect(page.locator("#zone")).to_contain_text(zone)
    shot(page, "messages-today")
    context.close()


def test_the_consoles_reads_leave_the_keys_request_budget_to_its_programs(
    browser: Browser, make_settings: SettingsFactory
) -> None:
    """Issue #13, item 16: a page following a message polls every 1.5 s; with a budget of 3
    requests a minute it still reaches delivered, and the key's own budget is untouched."""
    import httpx

    port = free_port()
    settings = make_settings(provider=ProviderName.SANDBOX, port=port, rate_limit="3/minute")
    with ThreadPoolExecutor(1) as pool:
        _, key = pool.submit(create_key, settings.database_url, "console", "admin").result()
    with serve_in_thread(create_app(settings), port=port) as url:
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        page = context.new_page()
        sign_in(page, url, key)
        page.get_by_label("Phone number").fill("+1 415 555 2671")
        page.get_by_label("Message").fill("Your code is 123456")
        page.get_by_role("button", name="Send").click()  # one request of the budget
        expect(page.locator("#result")).to_contain_text("Accepted for +14155552671")
        page.get_by_role("link", name="Follow it").click()
        expect(page.locator("#status")).to_have_text("delivered", timeout=10_000)
        page.get_by_role("link", name="Messages", exact=True).click()
        expect(page.locator("#messages tbody tr")).to_have_count(1)
        page.wait_for_timeout(3500)  # the list asks again, at least once
        context.close()
        headers = {"Authorization": f"Bearer {key}"}
        answers = [httpx.get(f"{url}/api/v1/messages", headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]  # two left of three, then none


def test_the_api_page_renders_offline_under_the_consoles_policy(
    browser: Browser, console: tuple[str, str]
) -> None:
    """Issue #13, item 15: the API page loaded Swagger UI from a CDN, so it was blank offline
    and ran a third-party script on the console's origin. Now every request to another host
    is refused, and the page still renders its operations and calls the API, with the
    console's Content Security Policy and no violation of it."""
    url, key = console
    here = urlsplit(url).netloc
    elsewhere: list[str] = []

    def only_here(route: Route) -> None:
        if urlsplit(route.request.url).netloc == here:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.route("**/*", only_here)
    # Playwright's own script, which no page policy governs, records what the policy refuses.
    context.add_init_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    docs = context.new_page()
    errors: list[str] = []
    docs.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    docs.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(docs, url, key)
    docs.get_by_role("link", name="API").click()
    expect(docs).to_have_url(f"{url}/docs")
    send = docs.locator('.opblock-summary-path[data-path="/api/send-sms"]')
    expect(send).to_be_visible()
    expect(docs.locator(".opblock-post").first).to_contain_text("POST")
    assert docs.locator(".opblock").count() > 10
    health = docs.locator(".opblock", has=docs.locator('[data-path="/healthz"]'))
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    answer = health.locator(".live-responses-table tr.response .response-col_status")
    expect(answer).to_have_text("200")  # Swagger UI called the API: connect-src 'self'
    shot(docs, "api-docs")
    violations = docs.evaluate("window.violations")
    policy = docs.evaluate("fetch('/docs').then((r) => r.headers.get('content-security-policy'))")
    context.close()
    assert elsewhere == []
    assert violations == []
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy


def test_money_is_shown_with_its_currency(page: Page, console: tuple[str, str]) -> None:
    """Issue #13, item 17: every amount the console shows names the price table's currency."""
    url, key = console
    sign_in(page, url, key)
    page.get_by_label("Phone number").fill("+14155552671")
    expect(page.locator("#to-check")).to_contain_text("0.00350 a segment (USD)")
    page.get_by_label("Message").fill("hello")
    expect(page.locator("#counter")).to_contain_text("about 0.00350 USD (at most)")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result")).to_contain_text("Accepted for +14155552671")
    page.get_by_role("link", name="Follow it").click()
    expect(page.locator("#status")).to_have_text("delivered", timeout=10_000)
    summary = page.locator("#summary")
    expect(summary).to_contain_text("Estimated cost0.00350 USD")
    expect(summary).to_contain_text("Charged0.00000 USD")  # the sandbox charges nothing
    shot(page, "message-money")
    page.get_by_role("link", name="Messages", exact=True).click()
    expect(page.locator("#messages tbody tr").first).to_contain_text("0.00350 USD")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#spend")).to_contain_text("0.00350 USD (no daily limit set)")

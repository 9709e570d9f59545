#!/usr/bin/env python3
"""The chat widget in a real browser, as a visitor uses it.

Opens the demo page (GET /) of a running Switchboard in headless Chromium,
clicks the chat button, types a name and "Hello from the browser", sends it,
then waits for an operator's reply ("Hi! How can I help?" by default) to show
up in the widget with the operator's name. It then saves a screenshot, reloads
the page and checks the stored conversation comes back (window open, each
message once), checks that the page logged no console errors, and exits 0.

The operator's side is played by whoever runs this: BrowserTests.swift starts
a server in-process, connects an operator over IRC and answers the visitor.
To regenerate docs/widget.png by hand, run the same script against a server
where someone answers, with --screenshot docs/widget.png.

Needs selenium (pip install selenium), chromium and chromium-driver (Debian).
Exit status: 0 passed, 1 failed, 2 bad usage, 3 selenium, chromium or
chromedriver missing. Everything is bounded by --timeout.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import time

MISSING = 3


def log(message):
    print(f"widget_test: {message}", flush=True)


class Failure(Exception):
    pass


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the server's HTTP base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--screenshot", required=True, help="where to save the PNG screenshot")
    parser.add_argument("--narrow-screenshot", help="also save a 360 px wide screenshot here")
    parser.add_argument("--channel", default="website", help="the live chat channel's slug")
    parser.add_argument("--name", default="Ada", help="the visitor's name, typed before the first message")
    parser.add_argument("--message", default="Hello from the browser")
    parser.add_argument("--reply", default="Hi! How can I help?", help="the operator's answer to wait for")
    parser.add_argument("--timeout", type=float, default=50, help="seconds for the whole run")
    parser.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return parser.parse_args()


def main():
    args = parse_args()
    deadline = time.monotonic() + args.timeout
    # Stopped by the Swift test (SIGTERM): still quit the browser in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))

    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        log("selenium is not installed: python3 -m pip install selenium")
        return MISSING
    if not os.access(args.chromedriver, os.X_OK):
        log(f"chromedriver not found at {args.chromedriver}: apt-get install chromium chromium-driver")
        return MISSING

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions", "--lang=en-US"):
        options.add_argument(flag)
    for binary in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(binary, os.X_OK):
            options.binary_location = binary
            break
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    log("starting headless Chromium")
    try:
        driver = webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)
    except WebDriverException as error:
        log(f"could not start Chromium through chromedriver: {error.msg}")
        return MISSING
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)

    def wait(what, probe, seconds=None):
        """Polls `probe` until it returns something truthy; fails after `seconds` or at the deadline."""
        end = deadline if seconds is None else min(deadline, time.monotonic() + seconds)
        last = None
        while True:
            try:
                value = probe()
                if value:
                    return value
            except WebDriverException as error:
                last = error.msg
            if time.monotonic() > end:
                raise Failure(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))
            time.sleep(0.1)

    host_id = f"sbw-root-{args.channel}"

    def root():
        return driver.find_element(By.ID, host_id).shadow_root

    def find(selector):
        return root().find_element(By.CSS_SELECTOR, selector)

    def widget_js(expression):
        # `w` is the widget's shadow root.
        return driver.execute_script(
            f"const w = document.getElementById({json.dumps(host_id)}).shadowRoot; return {expression};")

    def transcript():
        try:
            return widget_js("[...w.querySelectorAll('.sbw-msg')].map(li => "
                             "li.className.replace(/sbw-/g, '') + ' | ' + li.textContent)")
        except WebDriverException:
            return []

    status = 1
    try:
        # An address and a title longer than the API takes (tracking parameters, app
        # state): the widget must shorten them, not fail to start the chat.
        url = args.base.rstrip("/") + "/?ref=" + "x" * 2100 + "#state"
        log(f"opening {url[:60]}... ({len(url)} characters)")
        driver.get(url)
        # With a noncharacter and half an emoji, which are not text: the widget drops them.
        driver.execute_script("document.title = 'Shop \\ufdd0' + 't'.repeat(400) + '\\ud83d';")

        launcher = wait("the chat button", lambda: (lambda b: b if b.is_displayed() else None)(find(".sbw-launcher")))
        button_text = wait("the button text from the channel", lambda: launcher.text.strip())
        log(f"chat button: {button_text!r}")
        if "chat" not in button_text.lower():
            raise Failure(f"unexpected chat button text {button_text!r}")
        if launcher.get_attribute("aria-expanded") != "false":
            raise Failure("the chat button should say aria-expanded=false while the window is closed")

        launcher.click()
        window = wait("the chat window", lambda: (lambda w: w if w.is_displayed() else None)(find(".sbw-w")))
        if window.get_attribute("role") != "dialog" or not window.get_attribute("aria-label"):
            raise Failure("the chat window should be a dialog with an aria-label")
        wait("focus in the message box", lambda: widget_js("w.activeElement === w.querySelector('textarea')"), 5)
        log(f"window open: {window.get_attribute('aria-label')!r}, focus in the message box")

        find("input[name=name]").send_keys(args.name)
        find("textarea").send_keys(args.message)
        find("button[type=submit]").click()
        log(f"sent {args.message!r} as {args.name!r}")

        def stored_message():
            for li in root().find_elements(By.CSS_SELECTOR, ".sbw-msg.sbw-visitor"):
                if li.get_attribute("data-id") and args.message in li.text:
                    return li
            return None
        wait("the visitor's message to be stored (a message id)", stored_message, 20)
        stored = json.loads(driver.execute_script(
            "return localStorage.getItem(arguments[0])", f"sbw:conversation:{args.channel}") or "null")
        if not stored or not stored.get("id") or not stored.get("token"):
            raise Failure(f"no conversation stored in localStorage: {stored!r}")
        log(f"conversation {stored['id']} created and stored; waiting for the operator's reply")

        def reply():
            for li in root().find_elements(By.CSS_SELECTOR, ".sbw-msg.sbw-operator, .sbw-msg.sbw-bot"):
                bubble = li.find_element(By.CSS_SELECTOR, ".sbw-bubble")
                if bubble.text.strip() == args.reply:
                    return li
            return None
        answer = wait(f"the operator's reply {args.reply!r}", reply)
        authors = answer.find_elements(By.CSS_SELECTOR, ".sbw-author")
        author = authors[0].text.strip() if authors else ""
        if not author or author == "You":
            raise Failure(f"the operator's reply shows no author name (got {author!r})")
        log(f"reply shown from {author!r}")
        # Data is rendered as text: the bubble holds no elements.
        if widget_js("[...w.querySelectorAll('.sbw-bubble')].some(b => b.children.length > 0)"):
            raise Failure("a message bubble contains elements: messages must be rendered as text")

        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        time.sleep(0.3)  # let the last scroll settle
        if not driver.save_screenshot(args.screenshot):
            raise Failure(f"could not save the screenshot to {args.screenshot}")
        log(f"screenshot saved to {args.screenshot}")
        if args.narrow_screenshot:
            driver.set_window_size(360, 740)
            time.sleep(0.5)
            driver.save_screenshot(args.narrow_screenshot)
            log(f"narrow screenshot saved to {args.narrow_screenshot}")

        # A reload reopens the stored conversation: the same messages, once each, window open again.
        driver.set_window_size(1280, 900)
        driver.refresh()

        def restored():
            texts = widget_js("[...w.querySelectorAll('.sbw-msg[data-id] .sbw-bubble')].map(b => b.textContent)")
            return texts if args.reply in texts else None
        texts = wait("the conversation to be restored after a reload", restored, 15)
        ids = widget_js("[...w.querySelectorAll('.sbw-msg[data-id]')].map(li => li.dataset.id)")
        if texts.count(args.message) != 1 or texts.count(args.reply) != 1 or len(ids) != len(set(ids)):
            raise Failure(f"after a reload the transcript has duplicates or misses messages: {texts!r}")
        if not widget_js("!w.querySelector('.sbw-w').hidden"):
            raise Failure("after a reload the chat window should be open again, as it was")
        log(f"reload restored {len(texts)} messages, no duplicates")

        # A page that was away when the operator joined has "waiting" stored: after a
        # reload the widget asks the server where the conversation stands.
        driver.execute_script(
            "const s = JSON.parse(localStorage.getItem(arguments[0]));"
            "s.waiting = true; s.operator = null; localStorage.setItem(arguments[0], JSON.stringify(s));",
            f"sbw:conversation:{args.channel}")
        driver.refresh()

        def header_names_operator():
            text = widget_js("w.querySelector('.sbw-sub').textContent")
            return text if text.startswith("Chatting with ") else None
        header = wait("the header to name the operator after a reload with a stale stored state",
                      header_names_operator, 15)
        log(f"after a reload with a stale state the header says {header!r}")

        errors = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
        if errors:
            raise Failure("console errors:\n" + "\n".join(f"  {entry.get('message')}" for entry in errors))
        log("no console errors")
        log("OK")
        status = 0
    except Failure as failure:
        log(f"FAILED: {failure}")
    except WebDriverException as error:
        log(f"FAILED: WebDriver error: {error.msg}")
    finally:
        if status != 0:
            for line in transcript():
                log(f"  widget: {line}")
            try:
                for entry in driver.get_log("browser"):
                    log(f"  console {entry.get('level')}: {entry.get('message')}")
                failed = os.path.splitext(args.screenshot)[0] + "-failed.png"
                os.makedirs(os.path.dirname(os.path.abspath(failed)), exist_ok=True)
                driver.save_screenshot(failed)
                log(f"  screenshot of the failure: {failed}")
            except WebDriverException:
                pass
        driver.quit()
    return status


if __name__ == "__main__":
    sys.exit(main())

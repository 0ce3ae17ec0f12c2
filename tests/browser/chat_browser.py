"""Two headless Chromium windows on the chat example: a message posted in
one shows in both; after a server restart both pages reconnect and a new
message again reaches both. Exits non-zero on failure."""

import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from common import browser, free_port, start_server


def connected(driver):
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-connected") == "1"


def messages(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#inbox .message")]


def post(driver, text):
    box = driver.find_element(By.ID, "message")
    box.send_keys(text)
    driver.find_element(By.ID, "post").click()


def main():
    binary = sys.argv[1]
    port = free_port()
    server = start_server([binary, "--port", str(port)], port)
    windows = []
    try:
        windows = [browser(), browser()]
        for w in windows:
            w.get(f"http://127.0.0.1:{port}/")
            WebDriverWait(w, 10).until(connected)
        post(windows[0], "hello from window one")
        for w in windows:
            WebDriverWait(w, 10).until(lambda d: "hello from window one" in messages(d))
        print("message shown in both windows")

        # Restart the server: the pages notice, reconnect, and chat again.
        server.terminate()
        server.wait(10)
        for w in windows:
            WebDriverWait(w, 10).until(lambda d: not connected(d))
        server = start_server([binary, "--port", str(port)], port)
        for w in windows:
            WebDriverWait(w, 15).until(connected)
        post(windows[1], "after the restart")
        for w in windows:
            WebDriverWait(w, 10).until(lambda d: "after the restart" in messages(d))
        # The earlier message is still shown once, not duplicated.
        for w in windows:
            assert messages(w).count("hello from window one") == 1, messages(w)
        print("both windows reconnected after a server restart")
        print("browser test passed")
    finally:
        for w in windows:
            w.quit()
        server.kill()


if __name__ == "__main__":
    main()

"""Two headless Chromium windows on the chat example: a message posted in
one shows in both; after a server restart both pages reconnect and a new
message again reaches both. Exits non-zero on failure."""

import os
import socket
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, port):
    proc = subprocess.Popen([binary, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("chat server did not start")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ["CHROMIUM"]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--disable-sync",
                "--no-first-run", "--window-size=800,600"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(os.environ["DRIVER"]), options=options)


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
    server = start_server(binary, port)
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
        server = start_server(binary, port)
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

"""The blog example in headless Chromium, through its real forms: create
the author account, post an entry whose title holds HTML, read it back as
text (escaped, not markup), sign out, sign in again and edit the entry.
Every form carries the XSRF token the page rendered. Exits non-zero on
failure."""

import os
import sys
import tempfile

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from common import browser, free_port, start_server


def fill(driver, fields):
    for name, value in fields.items():
        box = driver.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)


def submit(driver):
    driver.find_element(By.CSS_SELECTOR, "form input[type=submit]").click()


def main():
    binary = sys.argv[1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    title = "<b>Bold</b> & <script>x</script>"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server([binary, "--port", str(port), "--db", os.path.join(tmp, "blog.db")], port)
        driver = None
        try:
            driver = browser("1000,800")
            wait = WebDriverWait(driver, 10)

            # Composing needs a user: the first visit redirects to sign in.
            driver.get(base + "/compose")
            wait.until(lambda d: "/auth/" in d.current_url)
            driver.get(base + "/auth/create?next=/compose")
            fill(driver, {"email": "author@example.com", "name": "Author", "password": "s3cret pass"})
            submit(driver)
            wait.until(lambda d: d.current_url.endswith("/compose"))
            assert driver.find_elements(By.NAME, "_xsrf"), "the compose form has no XSRF field"

            fill(driver, {"title": title, "markdown": "Some *emphasis* here."})
            submit(driver)
            wait.until(lambda d: "/entry/" in d.current_url)
            heading = driver.find_element(By.CSS_SELECTOR, ".entry h1 a")
            assert heading.text == title, heading.text
            # Escaped: the title's tags are text, not elements.
            assert not driver.find_elements(By.CSS_SELECTOR, ".entry h1 b"), "title rendered as HTML"
            assert driver.find_element(By.CSS_SELECTOR, ".entry .body em").text == "emphasis"
            entry_url = driver.current_url
            print("entry posted through the form and shown escaped")

            # Sign out, then in again through the login form, back to the entry.
            driver.find_element(By.LINK_TEXT, "Sign out").click()
            wait.until(lambda d: d.find_elements(By.LINK_TEXT, "Sign in"))
            driver.find_element(By.LINK_TEXT, "Sign in").click()
            wait.until(lambda d: "/auth/login" in d.current_url)
            fill(driver, {"email": "author@example.com", "password": "wrong"})
            submit(driver)
            wait.until(lambda d: "incorrect password" in d.page_source)
            fill(driver, {"email": "author@example.com", "password": "s3cret pass"})
            submit(driver)
            wait.until(lambda d: d.find_elements(By.LINK_TEXT, "Sign out"))
            print("signed out and in again through the forms")

            # Edit the entry.
            driver.get(entry_url)
            driver.find_element(By.LINK_TEXT, "Edit this post").click()
            wait.until(lambda d: "/compose" in d.current_url)
            fill(driver, {"markdown": "Edited **text**."})
            submit(driver)
            wait.until(lambda d: "/entry/" in d.current_url)
            assert driver.find_element(By.CSS_SELECTOR, ".entry .body strong").text == "text"
            print("entry edited")

            # The archive and the home page list it.
            driver.get(base + "/archive")
            assert title in driver.find_element(By.TAG_NAME, "body").text
            print("blog browser test passed")
        finally:
            if driver is not None:
                driver.quit()
            server.kill()


if __name__ == "__main__":
    main()

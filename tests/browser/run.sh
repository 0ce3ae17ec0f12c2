#!/usr/bin/env bash
# The examples in a real browser: headless Chromium driven by Selenium.
# Chat: two windows open the page, one posts, both must show the message;
# then the server restarts and the pages must reconnect and chat again.
# Blog: create the author, post, sign out and in, edit, all through the
# real forms (with their XSRF tokens).
#
#   bash tests/browser/run.sh
#
# Needs Debian's `chromium` and `chromium-driver` (apt-get install -y
# chromium chromium-driver); without them it says so and skips (exit 0).
# Selenium is installed from PyPI into tests/browser/.venv on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
DRIVER=$(command -v chromedriver || true)
if [ -z "$CHROMIUM" ] || [ -z "$DRIVER" ]; then
    echo "SKIPPED: browser test needs chromium and chromedriver (apt-get install -y chromium chromium-driver)"
    exit 0
fi

VENV=tests/browser/.venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import selenium" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet selenium
fi

cargo build --quiet --example chat --example blog
export CHROMIUM DRIVER
"$VENV/bin/python" tests/browser/chat_browser.py target/debug/examples/chat
"$VENV/bin/python" tests/browser/blog_browser.py target/debug/examples/blog

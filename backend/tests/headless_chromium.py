"""Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol, for the evidence page's tests.

One browser process per `headless_chromium()` block, a fresh profile, no
background networking. A `Page` records what the page asked the network for
and every console error, and can take a full-page screenshot and print a PDF.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]
TIMEOUT = 30.0


def chromium_or_skip() -> str:
    """The browser's path; outside CI its absence skips the test, under CI=true it fails it."""
    path = shutil.which("chromium")
    if path is None:
        message = "the `chromium` package is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI must run the browser tests")
        pytest.skip(message)
    return path


class Page:
    """One tab, attached through the browser's connection (flattened session)."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser, self.session_id = browser, session_id
        self.url = ""

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, params, session_id=self.session_id)

    def open(self, url: str) -> None:
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.url = url
        self.send("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired", self.session_id)

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The value of ``expression`` in the page (of the promise it returns, with ``await_promise``)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def resize(self, width: int, height: int, *, mobile: bool = False, media: str = "") -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
        self.send("Emulation.setEmulatedMedia", media=media)

    def screenshot(self, path: Path, *, width: int) -> None:
        """The whole page at ``width`` CSS pixels, as PNG."""
        self.resize(width, 800)
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.resize(width, height)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def print_pdf(self, path: Path, *, paper: tuple[float, float]) -> None:
        """Print with the page's print CSS on paper of ``(width, height)`` inches."""
        self.send("Emulation.clearDeviceMetricsOverride")
        data = self.send("Page.printToPDF", paperWidth=paper[0], paperHeight=paper[1], printBackground=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def events(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.browser.events if e["method"] == method and e.get("sessionId") == self.session_id]

    def console_errors(self) -> list[str]:
        errors = [
            " ".join(str(arg.get("value", arg.get("description", ""))) for arg in e["args"])
            for e in self.events("Runtime.consoleAPICalled")
            if e["type"] in ("error", "assert")
        ]
        errors += [e["exceptionDetails"]["text"] for e in self.events("Runtime.exceptionThrown")]
        errors += [e["entry"]["text"] for e in self.events("Log.entryAdded") if e["entry"]["level"] == "error"]
        return errors

    def requests(self) -> list[str]:
        """Every URL the page asked for, other than the page itself."""
        return [e["request"]["url"] for e in self.events("Network.requestWillBeSent") if e["request"]["url"] != self.url]


class Browser:
    def __init__(self, connection: websocket.WebSocket) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []
        self._last_id = 0

    def send(self, method: str, params: dict[str, Any] | None = None, *, session_id: str | None = None) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        self.connection.send(json.dumps(message))
        while True:
            reply = self._receive()
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, method: str, session_id: str) -> None:
        if any(e["method"] == method and e.get("sessionId") == session_id for e in self.events):
            return
        while True:
            reply = self._receive()
            if reply.get("method") == method and reply.get("sessionId") == session_id:
                return

    def _receive(self) -> dict[str, Any]:
        message = json.loads(self.connection.recv())
        if "method" in message:
            self.events.append(message)
        return message

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    executable = chromium_or_skip()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        # A process group of its own: Chromium's helper processes end with it.
        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            # Chromium writes the port it chose, then the browser's path, to this file.
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + TIMEOUT
            while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
                assert process.poll() is None, f"chromium exited with {process.returncode}"
                assert time.monotonic() < deadline, "chromium did not open its DevTools port"
                time.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            connection = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=TIMEOUT, suppress_origin=True)
            try:
                yield Browser(connection)
            finally:
                connection.close()
        finally:
            _end_process_group(process)
    finally:
        # Helper processes may still be flushing the profile as the group ends.
        for _ in range(20):
            shutil.rmtree(profile, ignore_errors=True)
            if not os.path.exists(profile):
                break
            time.sleep(0.1)


def _end_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to Chromium and its helpers, SIGKILL if they linger; then reap the browser."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):  # helpers that outlived the browser
        os.killpg(process.pid, signal.SIGKILL)

"""A real ``medpclip web`` server and a real headless Chromium driven by Selenium, for the browser tests and the
web benchmark. Debian's ``chromium`` and its matching ``chromium-driver`` are used from /usr/bin (installed by
``scripts/setup.sh``); Selenium is told both paths so it downloads nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from helpers import free_port, stop_process  # noqa: F401  (free_port: for the tests)

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MEDPCLIP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MEDPCLIP_CHROMEDRIVER", "/usr/bin/chromedriver")
# what the machine's closed network needs (see the env notes): no background connections, no GPU, no sandbox as root
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,800")

# the page's recorder: when the user pressed in a view, when the status line changed, when a view got a frame
RECORDER_JS = """
window.medpclip = {press: [], status: [], frames: []};
const now = () => performance.now();
document.addEventListener('pointerdown', () => window.medpclip.press.push(now()), true);
const status = document.getElementById('status');
new MutationObserver(() => window.medpclip.status.push([now(), status.innerText]))
  .observe(status, {childList: true, characterData: true, subtree: true});
const images = Array.from(document.querySelectorAll('img'));
images.forEach((img, i) => new MutationObserver(() => window.medpclip.frames.push([now(), i]))
  .observe(img, {attributes: true, attributeFilter: ['src']}));
return images.length;
"""


def browser_missing() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    return (f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver "
            "(scripts/setup.sh does, as root)") if missing else None


@contextmanager
def web_server(*args: str, timeout: float = 120.0):
    """``medpclip web ARGS --port P`` in a subprocess; yields its URL once it serves, stops it afterwards."""
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"medpclip-web-{port}.log"
    with log.open("w") as out:
        debug = ["-v"] if os.environ.get("MEDPCLIP_WEB_DEBUG") else []  # the controller's timings in the log
        proc = subprocess.Popen([sys.executable, "-m", "medpclip", *debug, "web", *args, "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"medpclip web exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"medpclip web did not start in {timeout} s:\n{log.read_text()[-3000:]}")
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_process(proc, 20)


@contextmanager
def chromium(downloads: Path | None = None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                  "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(predicate, timeout: float = 60.0, what: str = "the page"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


def text(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found and found[0].is_displayed() else ""


def open_page(driver, url: str, timeout: float = 90.0):
    """Load the page and wait until a volume is shown in three views; returns the axial view's <img>."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait_for(lambda: text(driver, "volume-name"), timeout, "the volume to open")
    wait_for(lambda: len(driver.find_elements(By.TAG_NAME, "img")) == 3, timeout, "three views")
    time.sleep(1.0)  # the first frames at the browser's view size
    return driver.find_elements(By.TAG_NAME, "img")[0]


def screenshot(driver, element=None) -> np.ndarray:
    """RGB pixels of the page, or of one element of it."""
    import io

    from PIL import Image

    png = element.screenshot_as_png if element is not None else driver.get_screenshot_as_png()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def tinted_pixels(before: np.ndarray, after: np.ndarray, hex_colour: str) -> int:
    """Pixels that ``after`` tints towards the segment colour compared with ``before`` (same view, same size):
    a segment is drawn blended over the grey image, so its pixels move along the colour's chroma."""
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], float)
    want = target - target.mean()
    if np.linalg.norm(want) < 20:
        raise ValueError(f"{hex_colour} is (nearly) grey: it cannot be told from the image")
    unit = want / np.linalg.norm(want)
    diff = after.reshape(-1, 3).astype(float) - before.reshape(-1, 3).astype(float)
    chroma = diff - diff.mean(axis=1, keepdims=True)
    along = chroma @ unit
    off = np.linalg.norm(chroma - np.outer(along, unit), axis=1)
    strong = along > max(8.0, 0.15 * np.linalg.norm(want))
    return int((strong & (off < 0.6 * along + 6)).sum())

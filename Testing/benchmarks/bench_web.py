"""``medpclip web`` click latency in a real browser (issue 16): how long after the mouse press in a slice view the
page shows the segment, on a 512 x 512 CT slice, 2-core CPU.

A real ``medpclip web`` server and Debian's headless Chromium (Selenium). The page records, in the browser's own
clock (``performance.now``): the press, the status line changing to the result, and every new frame of the views.
Per click: press -> status (the result reached the page) and press -> the first axial frame after the status (the
segment drawn). The first click is reported apart (it loads the model and encodes the slice); then two series of
``--clicks`` each: first clicks of new segments (*New segment*, then a click elsewhere on the slice: a new
prompt-centred view each time; then *Undo*, so that every click meets the same scene, unless ``--keep-segments``)
and correction clicks on one segment (each adds a point near the last one).

    .venv/bin/python Testing/benchmarks/bench_web.py --out docs/results/bench_web.json \\
        --screenshot docs/images/medpclip-web.png
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Testing"))

from browser import RECORDER_JS, chromium, open_page, text, wait_for, web_server  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

IMAGE = REPO / "Resources" / "SampleData" / "heldout_patients" / "btcv_ABD_030_105" / "image.nii.gz"
# where to click, as fractions of the axial view from its centre: inside the body (liver, spleen, kidneys, ...)
OFFSETS = [(-0.16, -0.02), (-0.2, 0.03), (-0.12, 0.06), (-0.18, -0.08), (-0.1, -0.04), (0.18, 0.05), (0.2, 0.0),
           (0.16, 0.1), (-0.14, 0.1), (-0.22, -0.04)]
CORRECTIONS = [(-0.16 + 0.012 * (n % 5), -0.02 + 0.01 * (n // 5)) for n in range(25)]  # around the first point


def one_click(driver, axial, dx: float, dy: float, timeout: float = 60.0) -> dict:
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("window.medpclip.press = []; window.medpclip.status = []; window.medpclip.frames = [];")
    ActionChains(driver).move_to_element_with_offset(axial, int(dx * axial.size["width"]),
                                                     int(dy * axial.size["height"])).click().perform()

    def done():
        rec = driver.execute_script("return window.medpclip;")
        results = [s for s in rec["status"] if "Quality" in s[1] or "outside" in s[1] or "no region" in s[1]]
        if not rec["press"] or not results:
            return None
        frames = [f[0] for f in rec["frames"] if f[1] == 0 and f[0] >= results[0][0]]
        return (rec, results[0], frames[0]) if frames else None

    rec, status, frame = wait_for(done, timeout, "the result")
    press = rec["press"][0]
    return {"status_ms": status[0] - press, "frame_ms": frame - press, "status": status[1].split("\n")[0]}


def backend_seconds(status: str) -> float:
    return float(status.rsplit(",", 1)[-1].strip().rstrip("s").strip())


def summary(clicks: list[dict]) -> dict:
    frame = sorted(c["frame_ms"] for c in clicks)
    return {"clicks": len(clicks),
            "press_to_segment_shown_ms": {"median": round(statistics.median(frame), 1),
                                          "p90": round(frame[int(0.9 * (len(frame) - 1))], 1),
                                          "max": round(frame[-1], 1)},
            "press_to_result_in_page_ms": {"median": round(statistics.median(c["status_ms"] for c in clicks), 1)},
            # the backend call alone, as the status line reports it ("Quality q, n voxels, t s")
            "backend_call_ms": {"median": round(1000 * statistics.median(backend_seconds(c["status"]) for c in clicks),
                                                1)},
            "statuses": sorted({c["status"].split(",")[0] for c in clicks})}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default=str(IMAGE))
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--out", help="JSON results")
    ap.add_argument("--keep-segments", action="store_true",
                    help="keep each new segment (the scene grows to --clicks segments) instead of undoing it")
    ap.add_argument("--screenshot", help="PNG of the page after the first click and Name it (for the docs)")
    args = ap.parse_args(argv)
    with web_server(args.image, "--modality", "CT", "--out-dir", "/tmp/medpclip-web-bench") as url, \
            chromium() as driver:
        axial = open_page(driver, url)
        driver.execute_script(RECORDER_JS)
        first = one_click(driver, axial, *OFFSETS[0])
        time.sleep(1.0)
        if args.screenshot:  # the docs' picture: one click, then Name it
            driver.find_element(By.ID, "identify").click()
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#ranking .ranking-row"), 60, "the names")
            time.sleep(1.0)
            Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.screenshot)
        new_objects = []
        for n in range(args.clicks):
            driver.find_element(By.ID, "new-segment").click()
            time.sleep(0.3)
            new_objects.append(one_click(driver, axial, *OFFSETS[1 + n % (len(OFFSETS) - 1)]))
            time.sleep(0.3)
            if not args.keep_segments:  # undo it: every click meets the same scene (one other segment)
                driver.find_element(By.ID, "undo").click()
                time.sleep(0.5)
        driver.find_element(By.ID, "new-segment").click()
        corrections = []
        for n in range(args.clicks + 1):
            corrections.append(one_click(driver, axial, *CORRECTIONS[n % len(CORRECTIONS)]))
            time.sleep(0.3)
        corrections = corrections[1:]  # the first of them starts the segment
        errors = text(driver, "error")
    result = {
        "benchmark": "medpclip web: mouse press in the axial view -> segment shown (headless Chromium)",
        "image": str(Path(args.image).relative_to(REPO)) if Path(args.image).is_relative_to(REPO) else args.image,
        "slice": "512 x 512",
        "segments_in_scene": f"up to {args.clicks + 2}" if args.keep_segments else "at most 3",
        "first_click_ms": {"status": round(first["status_ms"], 1), "frame": round(first["frame_ms"], 1)},
        "new_segment_click": summary(new_objects),
        "correction_click": summary(corrections),
        "page_error_at_end": errors,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

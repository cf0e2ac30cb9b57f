#!/usr/bin/env bash
# Create / update .venv at the repository root with everything medpclip, its tests, the MONAI Label app and
# the Slicer-logic tests need. Offline-safe: only PyPI (torch 2.14.1 / torchvision 0.29.1 come from the
# local wheel store where there is one). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)
"${PIP[@]}" install -U pip wheel "setuptools>=77" 2>&1 | grep -v "^WARNING: Location" || true
# torch first: sam2 (required by monailabel) imports torch in its setup.py; build it without CUDA and
# without build isolation so pip does not fetch a second torch into the build environment.
"${PIP[@]}" install -c scripts/constraints.txt torch==2.14.1 torchvision==0.29.1 2>&1 | grep -v "^WARNING: Location" || true
if ! .venv/bin/python -c "import sam2" 2>/dev/null; then
  SAM2_BUILD_CUDA=0 "${PIP[@]}" install --no-build-isolation sam2==1.1.0 2>&1 | grep -v "^WARNING: Location" || true
fi
"${PIP[@]}" install -c scripts/constraints.txt -e ".[test,monailabel,web]" 2>&1 | grep -v "^WARNING: Location" || true
# the browser tests of medpclip web drive Debian's Chromium with its matching ChromeDriver (nothing is downloaded)
if [ "${MEDPCLIP_NO_BROWSER:-0}" != 1 ] && ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian chromium + chromium-driver for the browser tests (MEDPCLIP_NO_BROWSER=1 skips this)"
    { apt-get install -y -q chromium chromium-driver || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; } \
      > .venv/apt-chromium.log 2>&1 || echo "WARNING: could not install chromium (see .venv/apt-chromium.log)"
  else
    echo "WARNING: /usr/bin/chromium + /usr/bin/chromedriver are missing: the browser tests of medpclip web need" \
         "Debian's chromium and chromium-driver (sudo apt-get install chromium chromium-driver)"
  fi
fi
.venv/bin/python -c "import medpclip, torch, monai, monailabel, numpy, trame_slicer; print('medpclip environment ready: torch', torch.__version__, '| monai', monai.__version__, '| monailabel', monailabel.__version__, '| numpy', numpy.__version__)"

#!/usr/bin/env bash
# Create / update .venv at the repository root with everything medpclip, its tests, the MONAI Label app and
# the Slicer-logic tests need. Offline-safe: only PyPI (torch 2.14.1 / torchvision 0.29.1 come from the
# local wheel store where there is one). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
NEED_GB=11  # a fresh .venv is about 9.4 GB (torch's CUDA libraries 4 GB, ITK 1.5 GB) plus pip's unpacking room
if [ ! -x .venv/bin/python ]; then
  free_gb=$(df -Pk . | awk 'NR == 2 {print int($4 / 1048576)}')
  if [ "${free_gb:-0}" -lt "$NEED_GB" ]; then
    echo "ERROR: scripts/setup.sh needs about $NEED_GB GB free for .venv/; $(pwd) has ${free_gb} GB" >&2
    exit 1
  fi
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)

pip_install() {  # pip install "$@"; pip's location warnings hidden, a failed install stops the setup with its reason
  local log rc=0
  log=$(mktemp)
  "${PIP[@]}" install "$@" > "$log" 2>&1 || rc=$?
  grep -v "^WARNING: Location" "$log" || true
  rm -f "$log"
  if [ "$rc" != 0 ]; then
    echo "ERROR: scripts/setup.sh: pip install $* failed (exit $rc; pip's message above)" >&2
    exit "$rc"
  fi
}

pip_install -U pip wheel "setuptools>=77"
# torch first: sam2 (required by monailabel) imports torch in its setup.py; build it without CUDA and
# without build isolation so pip does not fetch a second torch into the build environment.
pip_install -c scripts/constraints.txt torch==2.14.1 torchvision==0.29.1
if ! .venv/bin/python -c "import sam2" 2>/dev/null; then
  SAM2_BUILD_CUDA=0 pip_install --no-build-isolation sam2==1.1.0
fi
pip_install -c scripts/constraints.txt -e ".[test,monailabel,web]"
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

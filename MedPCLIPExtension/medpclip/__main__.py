"""``python -m medpclip`` = the ``medpclip`` command (``medpclip.cli`` run as the main module)."""

import runpy

runpy.run_module("medpclip.cli", run_name="__main__", alter_sys=True)

"""MedPCLIP module library: everything the module does, without Qt (testable on PyPI ``slicer-core``).

- ``logic.MedPCLIPLogic``: the one logic (backend choice, job runner, undo), scriptable from Slicer's Python console;
- ``segment`` / ``identify``: the jobs (prompt nodes -> world-coordinate prompt, result -> segment; naming);
- ``jobs``: ``Job`` and the ``JobRunner`` (one model call at a time on a worker thread, latest request wins);
- ``undo``: the undo stack; ``panel``: what the panel's buttons do; ``prompts``: the prompt markups;
- ``backends``: the model in-process (``LocalBackend``) or on a MONAI Label server (``RemoteBackend``);
- ``mrml_util``: numpy <-> vtk, world geometry of nodes (parent transforms), segment read / write;
- ``dependencies``: what the local backend needs, with version pins (installed only on request).

Submodules are imported on use, so importing this package needs neither torch nor the Slicer GUI.
"""

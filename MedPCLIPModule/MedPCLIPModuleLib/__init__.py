"""MedPCLIP module library: everything the module does, without Qt (testable on PyPI ``slicer-core``).

- ``logic.MedPCLIPLogic``: segment / identify / find / undo, scriptable from Slicer's Python console;
- ``backends``: the model in-process (``LocalBackend``) or on a MONAI Label server (``RemoteBackend``);
- ``mrml_util``: numpy <-> vtk, world geometry of nodes (parent transforms), segment read / write;
- ``dependencies``: what the local backend needs, with version pins (installed only on request).

Submodules are imported on use, so importing this package needs neither torch nor the Slicer GUI.
"""

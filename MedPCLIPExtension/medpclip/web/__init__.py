"""``medpclip web``: volumetric review and interactive segmentation in the browser, no Slicer install.

A trame-slicer page (Slicer's own slice views, segmentations and markups from PyPI ``slicer-core``, rendered on
the server) driven by the MedPCLIP module's own Qt-free logic (``MedPCLIPModuleLib``: the same panel actions,
prompt markups, jobs, undo and backends as the 3D Slicer module), so the browser page has no prompt or
coordinate code of its own. Layers:

- ``module_lib``: makes ``MedPCLIPModuleLib`` importable (it lives in the Slicer module's folder);
- ``scene``: the Slicer scene of one page (volume, segmentation, slice views), no trame UI;
- ``controller``: what the page's buttons and clicks do (the module's ``Panel`` with a page as its view);
- ``page``: the trame / Vuetify page; ``server``: the ``medpclip web`` command.

Needs the ``web`` extra (``pip install -e .[web]``, done by ``scripts/setup.sh``).
"""

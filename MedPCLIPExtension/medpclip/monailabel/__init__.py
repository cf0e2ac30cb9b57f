"""MedP-CLIP as a MONAI Label backend.

``app/main.py`` is the MONAI Label app (``monailabel start_server --app <this package>/app ...``), ``tasks/``
holds its infer / train / strategy tasks (all calling :mod:`medpclip.engine`), ``datastore.py`` a local
datastore that saves labels atomically, ``server.py`` the HTTP hardening (non-blocking ``/infer``, 4xx for bad
input, image ids confined to the studies folder) and ``serve.py`` the ``medpclip serve`` command.
Nothing here imports ``monailabel`` at package import time.
"""

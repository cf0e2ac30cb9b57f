"""The MONAI Label app folder: ``monailabel start_server --app <this folder> --studies DIR --conf models medpclip``.

MONAI Label loads ``main.py`` from here by path and creates ``bin/ lib/ logs/ model/`` beside it.
"""

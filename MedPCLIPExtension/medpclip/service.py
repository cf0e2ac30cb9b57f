"""Names shared by the MONAI Label app and its clients (the Slicer module's remote backend, tests): the
interactive tasks' names and the environment variable holding the server's optional token. No imports, so a
client can read them without loading the server."""

INTERACTIVE_TASK = "medpclip_interactive"
IDENTIFY_TASK = "medpclip_identify"
FIND_TASK = "medpclip_find"
FINETUNE_TASK = "medpclip_finetune"
TOKEN_ENV = "MEDPCLIP_TOKEN"

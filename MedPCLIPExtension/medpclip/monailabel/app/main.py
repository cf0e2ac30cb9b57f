"""MedP-CLIP MONAI Label app.

    monailabel start_server --app <this folder> --studies DIR --conf models medpclip
    medpclip serve [--studies DIR]          # the same server, with the bundled checkpoint and sample studies

Tasks: ``medpclip_interactive`` (deepgrow: clicks / ROI / prior mask -> segment + score + names),
``medpclip_identify`` (region -> ranked names, JSON), ``medpclip_find`` (text -> segment), trainer
``medpclip_finetune`` and strategies ``random`` / ``first``. Every task calls :mod:`medpclip.engine`.

App options (``--conf KEY VALUE``): ``checkpoint`` (base weights; default $MEDPCLIP_CHECKPOINT or the bundled
default), ``model_dir`` (published fine-tuned weights and train stats; default <app>/model), ``use_finetuned``
(true), ``device`` (auto), ``threads``, ``session_cache`` (images kept open, 4), ``session_cache_mb`` (256),
``window`` (CT window preset, abdomen), ``models`` (medpclip or all).
"""

from __future__ import annotations

import logging
import os
from typing import Dict

from monailabel.config import settings
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy
from monailabel.interfaces.tasks.train import TrainTask

import medpclip
from medpclip.monailabel import server
from medpclip.service import FIND_TASK, FINETUNE_TASK, IDENTIFY_TASK, INTERACTIVE_TASK
from medpclip.monailabel.datastore import AtomicLocalDatastore
from medpclip.monailabel.runtime import Runtime, RuntimeConfig
from medpclip.monailabel.tasks.infer import FindTask, IdentifyTask, InteractiveTask
from medpclip.monailabel.tasks.strategy import strategies
from medpclip.monailabel.tasks.train import FinetuneTask

logger = logging.getLogger(__name__)

MODELS = ("medpclip",)


class MedPCLIPApp(MONAILabelApp):
    def __init__(self, app_dir, studies, conf):
        conf = dict(conf or {})
        wanted = [m.strip() for m in conf.get("models", "medpclip").split(",") if m.strip()]
        unknown = [m for m in wanted if m not in (*MODELS, "all")]
        if unknown:
            raise ValueError(f"--conf models: unknown model(s) {unknown}; this app provides {list(MODELS)}")
        self.runtime = Runtime(RuntimeConfig.from_conf(app_dir, conf))
        super().__init__(app_dir=app_dir, studies=studies, conf=conf, name="MedP-CLIP",
                         description="Promptable medical CLIP: interactive segmentation from clicks / boxes / masks, "
                                     "region identification and text search, with fine-tuning on your labels",
                         version=medpclip.__version__)
        roots = [studies] if not studies.startswith(("http://", "https://")) else []
        if self._sessions is not None:  # images uploaded as MONAI Label sessions are reused by later clicks
            roots.append(self._sessions.store_path)
        self.runtime.cache_roots = [os.path.realpath(r) for r in roots]
        if server.install():  # only inside the HTTP server process (not in the train child process)
            self.runtime.warm_up()

    def init_datastore(self) -> Datastore:
        if self.studies.startswith(("http://", "https://")):
            return super().init_datastore()
        return AtomicLocalDatastore(self.studies, extensions=settings.MONAI_LABEL_DATASTORE_FILE_EXT,
                                    auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
                                    read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY)

    def init_infers(self) -> Dict[str, InferTask]:
        return {INTERACTIVE_TASK: InteractiveTask(self.runtime),
                IDENTIFY_TASK: IdentifyTask(self.runtime),
                FIND_TASK: FindTask(self.runtime)}

    def init_trainers(self) -> Dict[str, TrainTask]:
        return {FINETUNE_TASK: FinetuneTask(self.runtime.config)}

    def init_strategies(self) -> Dict[str, Strategy]:
        return strategies()

    def init_scoring_methods(self) -> Dict[str, ScoringMethod]:
        return {}

    def info(self):
        meta = super().info()
        weights = self.runtime.models.info or {"path": str(self.runtime.config.active_checkpoint()[0]),
                                               "loaded": False}
        meta["medpclip"] = {"sessions": self.runtime.sessions.stats(), "weights": weights}
        return meta

"""Active-learning strategies: which image to label next.

``random``: a random unlabelled image, weighted by the seconds since the image was last served by this strategy
(at least 1), so images nobody was given recently come first. MONAI Label's own ``Random`` uses the bare
difference, which is 0 for every image served within the current second and then fails with a 500.
``first``: the first unlabelled image in id order, so that a team works through a study list in a fixed order.
Both only consider images without a ``final`` label; with none left they answer ``{}``.
"""

from __future__ import annotations

import random
import time

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.strategy import Strategy


class FirstUnlabelled(Strategy):
    def __init__(self) -> None:
        super().__init__("First unlabelled image (sorted by id)")

    def __call__(self, request, datastore: Datastore):
        images = sorted(datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels")))
        return {"id": images[0]} if images else None


class RandomUnlabelled(Strategy):
    def __init__(self) -> None:
        super().__init__("Random unlabelled image (not recently served first)")

    def __call__(self, request, datastore: Datastore):
        images = sorted(datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels")))
        if not images:
            return None
        name = request.get("strategy", "random")
        now = int(time.time())
        last = [datastore.get_image_info(i).get("strategy", {}).get(name, {}).get("ts", 0) for i in images]
        weights = [max(1, now - int(ts or 0)) for ts in last]
        return {"id": random.choices(images, weights=weights)[0]}


def strategies() -> dict[str, Strategy]:
    return {"random": RandomUnlabelled(), "first": FirstUnlabelled()}

"""The weights' moving average (``--ema-decay``): its arithmetic, that it leaves training's own trajectory exactly as
it was, that ``--resume`` continues the same average, and the CLI's check of the option."""

from __future__ import annotations

import torch

from medpclip.model.checkpoint import load_checkpoint
from medpclip.training.trainer import AVERAGE_NAME, CHECKPOINT_NAME, Trainer
from medpclip.training.weight_average import WeightAverage

from test_training import _cli, _opts


def _weights(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).model.state_dict()


def test_the_average_moves_a_share_of_the_way_to_each_new_weight_and_leaves_integers_alone():
    model = torch.nn.Linear(3, 2)
    model.register_buffer("count", torch.tensor(5))
    start = model.weight.detach().clone()
    average = WeightAverage(model, 0.9)
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update(model)
    assert torch.allclose(average.shadow["weight"], start + 0.1)
    assert "count" not in average.shadow
    copy = average.averaged(model)
    assert torch.allclose(copy.weight, start + 0.1) and torch.allclose(model.weight, start + 1.0)
    for bad in (0.0, 1.0, -0.5):
        try:
            WeightAverage(model, bad)
        except ValueError as e:
            assert "decay" in str(e)
        else:
            raise AssertionError(f"decay {bad} accepted")


def test_a_run_with_the_average_trains_the_same_weights_and_saves_their_average(tmp_path):
    Trainer(_opts(tmp_path / "plain", max_steps=3, seed=3)).fit(progress=False)
    Trainer(_opts(tmp_path / "ema", max_steps=3, seed=3, ema_decay=0.5)).fit(progress=False)
    plain = _weights(tmp_path / "plain" / "run" / CHECKPOINT_NAME)
    raw = _weights(tmp_path / "ema" / "run" / CHECKPOINT_NAME)
    averaged = _weights(tmp_path / "ema" / "run" / AVERAGE_NAME)
    assert not (tmp_path / "plain" / "run" / AVERAGE_NAME).exists()
    assert all(torch.equal(plain[k], raw[k]) for k in plain)
    moved = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], averaged[k])]
    assert moved, "the average equals the last weights"


def test_resume_continues_the_same_average(tmp_path):
    Trainer(_opts(tmp_path / "straight", max_steps=4, seed=5, ema_decay=0.7)).fit(progress=False)
    Trainer(_opts(tmp_path / "resumed", max_steps=2, seed=5, ema_decay=0.7)).fit(progress=False)
    Trainer(_opts(tmp_path / "resumed", max_steps=4, seed=5, ema_decay=0.7, resume=True)).fit(progress=False)
    a = _weights(tmp_path / "straight" / "run" / AVERAGE_NAME)
    b = _weights(tmp_path / "resumed" / "run" / AVERAGE_NAME)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_train_cli_refuses_a_decay_outside_0_1(tmp_path):
    r = _cli("train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--ema-decay", "1.5")
    assert r.returncode != 0 and "--ema-decay must lie in [0, 1)" in r.stderr.strip().splitlines()[-1]

"""The learner's learning-rate schedule (sealign/learning/optimiser.py): warm-up, then constant or a
decay to a floor at the run's planned last update, checked against values worked by hand."""

import math

import pytest
import torch

from sealign.config import ConfigError, RunConfig
from sealign.learning.learner_settings import OptimiserSettings
from sealign.learning.optimiser import build_optimiser, lr_factor


def test_constant_is_the_warm_up_then_one():
    factors = [lr_factor(step, 2, "constant", 10, 0.1) for step in range(5)]
    assert factors == [0.5, 1.0, 1.0, 1.0, 1.0]


def test_linear_decay_reaches_the_floor_at_the_last_planned_update_and_stays():
    # warm-up 2 (steps 0, 1), decay over steps 1..9: 8 steps from 1.0 to 0.1
    factors = [lr_factor(step, 2, "linear", 10, 0.1) for step in range(12)]
    assert factors[:2] == [0.5, 1.0]
    assert factors[5] == pytest.approx(0.1 + 0.9 * (1 - 4 / 8))
    assert factors[9] == pytest.approx(0.1)
    assert factors[11] == pytest.approx(0.1)


def test_cosine_decay_is_half_way_at_the_middle():
    factors = [lr_factor(step, 1, "cosine", 9, 0.0) for step in range(9)]
    assert factors[0] == 1.0
    assert factors[4] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert factors[8] == pytest.approx(0.0, abs=1e-12)


def test_the_optimiser_follows_the_schedule_over_the_planned_updates():
    model = torch.nn.Linear(2, 1)
    settings = OptimiserSettings(lr=1e-2, warmup_steps=1, lr_schedule="linear", lr_min_ratio=0.0)
    optimizer, scheduler = build_optimiser(model, settings, planned_updates=3)
    seen = []
    for _ in range(4):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([1e-2, 5e-3, 0.0, 0.0])
    restored_opt, restored = build_optimiser(model, settings, planned_updates=3)
    restored.load_state_dict(scheduler.state_dict())
    assert restored.get_last_lr() == pytest.approx(scheduler.get_last_lr())


def test_a_floor_outside_zero_to_one_is_refused():
    with pytest.raises(ConfigError, match="lr_min_ratio"):
        RunConfig(lr_schedule="linear", lr_min_ratio=1.5).validate()

"""Passive pair choice that still trains the epistemic reward model on every answer.

The control of Liu et al. 2024 Table 1 rows 4 (BoN with a passively learned reward model) and of
Asghari et al.'s EES without information-directed queries: the pair is random, but the ensemble
learns from it, so Best-of-N inference, ERM sync and reward-model signals are available.
"""

from __future__ import annotations

from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic
from sealign.exploration.passive import select_pair


def build(config, policy=None) -> EpistemicExplorer:
    return build_epistemic(config, policy, select_pair)

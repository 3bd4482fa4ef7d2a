"""The Bradley-Terry reward-model loss of Dong et al. 2024 and its length-penalised reward: tensors of
rewards in, ``LossOutput`` out (docs/losses.md, "Bradley-Terry reward-model loss"). Not a ``--loss``:
the policy's objectives are in ``losses.py``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sealign.learning.losses import LossOutput, reward_metrics


def length_penalized_reward(rewards: Tensor, lengths: Tensor, length_penalty: float) -> Tensor:
    """Dong et al.'s ranking reward ``r(x, y) - lambda * |y|`` (|y| in whatever unit the caller
    passes: characters in Dong et al. 2024, tokens here by default)."""
    return rewards - length_penalty * lengths


def bt_loss(chosen_rewards: Tensor, rejected_rewards: Tensor, margin: float | Tensor = 0.0,
            length_penalty: float = 0.0, chosen_len: Tensor | None = None,
            rejected_len: Tensor | None = None) -> LossOutput:
    """Bradley-Terry reward-model loss (Dong et al. 2024 sec. 2.1, eq. 1; Ouyang et al. 2022):

        -log sigma( r'(x, y_w) - r'(x, y_l) - m ),   r'(x, y) = r(x, y) - lambda * |y|

    with an optional margin m (a float or a per-pair tensor, as Llama-2's margin loss) and the
    length-penalised reward of Dong et al. 2024 (lambda = ``length_penalty``; 0 = plain BT, lengths
    then optional). Metrics: mean rewards, margin and accuracy of the (penalised) rewards.
    """
    if length_penalty:
        if chosen_len is None or rejected_len is None:
            raise ValueError("bt_loss with a length_penalty needs chosen_len and rejected_len")
        chosen_rewards = length_penalized_reward(chosen_rewards, chosen_len, length_penalty)
        rejected_rewards = length_penalized_reward(rejected_rewards, rejected_len, length_penalty)
    per_pair = -F.logsigmoid(chosen_rewards - rejected_rewards - margin)
    return LossOutput(per_pair.mean(), reward_metrics(chosen_rewards, rejected_rewards))

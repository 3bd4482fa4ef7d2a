import copy

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import UserError
from sealign.learning.learner import PreferenceLearner
from sealign.records.types import PreferenceBatch


def batch_for(policy) -> PreferenceBatch:
    prompts = policy.encode_prompts(["post : a tl;dr :", "post : b tl;dr :"])
    return PreferenceBatch(prompts, policy.encode_responses(["hiking .", "fun ."]),
                           policy.encode_responses(["so yeah .", "really really ."]))


def test_checkpoint_round_trip_resumes_identically(tiny_policy, tmp_path):
    policy = copy.deepcopy(tiny_policy)
    config = RunConfig(lr=1e-2, micro_batch_size=1)  # micro-batches of 1: gradient accumulation
    learner = PreferenceLearner(policy, config)
    learner.step(batch_for(policy))
    learner.save(tmp_path / "ck.pt", extra={"queries": 2})
    after_one = {k: v.clone() for k, v in policy.model.state_dict().items()}
    learner.step(batch_for(policy))
    expected = {k: v.clone() for k, v in policy.model.state_dict().items()}

    resumed_policy = copy.deepcopy(tiny_policy)
    resumed = PreferenceLearner(resumed_policy, config, reference=learner.reference)
    assert resumed.load(tmp_path / "ck.pt") == {"queries": 2}
    assert all(torch.equal(after_one[k], v) for k, v in resumed_policy.model.state_dict().items())
    resumed.step(batch_for(resumed_policy))
    for key, value in resumed_policy.model.state_dict().items():
        assert torch.allclose(expected[key], value, atol=1e-6), key
    assert not (tmp_path / "ck.pt.tmp").exists()


def test_corrupt_checkpoint_is_refused(tiny_policy, tmp_path):
    learner = PreferenceLearner(copy.deepcopy(tiny_policy), RunConfig())
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="missing or corrupt"):
        learner.load(tmp_path / "bad.pt")
    with pytest.raises(UserError, match="missing or corrupt"):
        learner.load(tmp_path / "absent.pt")

"""What reaches the learner (PreferenceBatch.from_comparisons): ties and identical responses dropped, and XPO's
reference sample carried beside each pair."""

from __future__ import annotations

from sealign.records.types import Candidate, PreferenceBatch
from tests.conftest import answer, group_of


def test_identical_responses_never_reach_the_learner():
    same, other = group_of(["same", "other"])
    twin = Candidate(same.prompt, same.prompt_ids, same.token_ids, same.text)
    batch = PreferenceBatch.from_comparisons([answer(same, twin, "a"), answer(same, other, "b")])
    assert batch.chosen_ids == [other.token_ids] and batch.rejected_ids == [same.token_ids]


def test_xpo_bonus_sample_is_the_queried_reference_response_whichever_side_wins():
    policy_sample, reference_sample = group_of(["mine", "ref"])
    reference_sample.source = "reference"  # as the actor marks its reference_candidates
    batch = PreferenceBatch.from_comparisons(
        [answer(policy_sample, reference_sample, "a"), answer(policy_sample, reference_sample, "b"),
         answer(policy_sample, reference_sample, "tie")])
    assert len(batch) == 2 and batch.ref_sample_ids == [list(b"ref")] * 2
    assert batch.chosen_ids == [list(b"mine"), list(b"ref")]
    # Policy samples only, or some pairs without a reference sample: none (the learner samples its own).
    other = group_of(["other"])[0]
    assert PreferenceBatch.from_comparisons([answer(policy_sample, other, "a")]).ref_sample_ids is None
    assert PreferenceBatch.from_comparisons([answer(policy_sample, reference_sample, "a"),
                                             answer(policy_sample, other, "a")]).ref_sample_ids is None

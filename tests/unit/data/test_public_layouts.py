"""--offline-data and --prompts read the common public preference layouts as they come (issue 28, item 6):
UltraFeedback-binarized's (a string prompt, chosen / rejected holding the whole conversation)."""

from __future__ import annotations

import json

import pytest

from sealign.config import RunConfig
from sealign.data.preferences import PreferenceRow, load_preference_data
from sealign.data.prompts import load_prompts
from sealign.errors import UserError

datasets = pytest.importorskip("datasets")


def ultrafeedback_row(number: int) -> dict:
    """One row laid out as HuggingFaceH4/ultrafeedback_binarized's train_prefs split."""
    prompt = f"post {number} : we met a nice old man . tl;dr :"
    user = {"content": prompt, "role": "user"}
    chosen = [user, {"content": f"a good summary {number}", "role": "assistant"}]
    rejected = [user, {"content": f"a bad one {number}", "role": "assistant"}]
    return {"prompt": prompt, "prompt_id": f"{number:064x}", "chosen": chosen, "rejected": rejected,
            "messages": chosen, "score_chosen": 8.0, "score_rejected": 4.5}


ROWS = [ultrafeedback_row(n) for n in range(12)]
EXPECTED = [PreferenceRow(r["prompt"], r["chosen"][1]["content"], r["rejected"][1]["content"]) for r in ROWS]


def write(tmp_path, suffix: str, rows=ROWS) -> str:
    path = tmp_path / f"ultrafeedback{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    return str(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_ultrafeedback_binarized_is_read_as_it_comes(tmp_path, suffix):
    # It used to be refused: "row 1: chosen must hold one message (the answer), not 2".
    assert load_preference_data(write(tmp_path, suffix)) == EXPECTED


def test_the_prompt_is_the_conversation_before_the_last_message(tmp_path):
    system = {"role": "system", "content": "be brief"}
    row = ultrafeedback_row(0)
    row["chosen"], row["rejected"] = [system, *row["chosen"]], [system, *row["rejected"]]
    (read,) = load_preference_data(write(tmp_path, ".jsonl", [row]))
    assert read == PreferenceRow(f"system: be brief\nuser: {row['prompt']}", "a good summary 0", "a bad one 0")
    row["rejected"][1] = {"role": "user", "content": "another question"}
    with pytest.raises(UserError, match="row 1: chosen and rejected hold whole conversations, so they must share"):
        load_preference_data(write(tmp_path, ".jsonl", [row]))


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@pytest.mark.parametrize("field", ["prompt", "messages", "chosen"])
def test_the_same_file_gives_the_prompts(tmp_path, suffix, field):
    train, held_out = load_prompts(RunConfig(prompts=write(tmp_path, suffix), prompt_field=field, num_eval_prompts=4,
                                             batch_size=4))
    assert [p.text for p in train + held_out] == [r["prompt"] for r in ROWS]

"""Oracle settings a user gets wrong end in one line on stderr, before any model is loaded."""

from __future__ import annotations

import pytest
import torch

from sealign.cli import main

torch.set_num_threads(1)


@pytest.mark.parametrize("args, message", [
    (["--oracle", "reward-model"], "needs --oracle-model"),
    (["--oracle", "pairwise", "--oracle-model", "/no/such/model"], "has no config.json"),
    (["--oracle", "judge", "--judge-template", "/no/such/t.txt"], "judge template '/no/such/t.txt' not found"),
    (["--oracle", "judge", "--judge-url", "localhost:8000/v1", "--judge-cache", "off"], "must start with http://"),
    (["--oracle", "judge", "--judge-concurrency", "0", "--judge-cache", "off"], "judge_concurrency"),
    (["--oracle", "rule", "--reward-fn", "nowhere.module:fn"], "cannot import reward_fn"),
    (["--oracle", "human", "--human-raters-per-pair", "0"], "human_raters_per_pair"),
    (["--oracle-max-cost", "-1"], "oracle_max_cost must be >= 0"),
])
def test_bad_oracle_settings_are_one_line_errors(args, message, tmp_path, capsys):
    assert main(["run", "--out-dir", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

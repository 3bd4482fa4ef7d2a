"""The bad-input matrix: every mistake meets one line on stderr that names the problem and the fix,
exit code 2, no traceback, and nothing already logged is touched (no file of an existing run
changes, no half-made run folder appears).

Through `sealign.cli.main`, as a user meets it. Cases of tests/integration/test_cli_errors.py and
tests/integration/test_cli_oracle_settings.py are not repeated here. Decisions (docs/reliability.md): a
prompt longer than the model's context window minus max_new_tokens is refused, naming its line;
duplicate prompts are dropped (first copy kept) with a logged count.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from sealign.cli import main
from sealign.errors import UserError
from sealign.records.feedback_log import FeedbackLog
from sealign.records.types import Candidate, Comparison, Prompt

torch.set_num_threads(1)


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    """`sealign run` flags after the safe defaults below; {tmp}, {policy}, {broken}, {log} are filled in."""
    message: str
    files: dict[str, str | bytes | None] = field(default_factory=dict)
    """Written under {tmp} first; None makes a folder."""
    command: str = "run"
    marks: tuple = ()


# Small, fast settings: a case that was wrongly accepted would run a tiny run, not build a policy.
SAFE = ["--policy", "{policy}", "--out-dir", "{tmp}/runs", "--run-name", "refused", "--budget", "16",
        "--batch-size", "8", "--num-train-prompts", "32", "--num-eval-prompts", "4", "--max-new-tokens", "8",
        "--eval-every", "100"]
JSONL = ["--prompts", "{tmp}/p.jsonl", "--num-eval-prompts", "1", "--batch-size", "1"]
JSON = ["--prompts", "{tmp}/p.json", "--num-eval-prompts", "1", "--batch-size", "1"]
CONFIG = ["--config", "{tmp}/c.yaml"]
LONG = " ".join(["an outing to the lake with a friend was lovely"] * 60)  # >> the tiny model's 256 positions


def rows(*texts: str) -> str:
    return "".join(json.dumps({"prompt": t}) + "\n" for t in texts)


def case(id, args, message, files=None, command="run", marks=()):
    return Case(id, args, message, files or {}, command, marks)


NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible here")

CASES = [
    # --- prompt files: rows that are empty, not UTF-8, missing fields, too long, duplicated, unparseable
    case("empty file", JSONL, "holds no prompts; add rows like", {"p.jsonl": b""}),
    case("empty JSON list", JSON, "holds no prompts", {"p.json": "[]"}),
    case("empty prompt", JSONL, "p.jsonl:2: row has no non-empty string field 'prompt'", {"p.jsonl": rows("one", "")}),
    case("blank prompt", JSONL, "p.jsonl:1: row has no non-empty string field", {"p.jsonl": rows(" \t ", "two")}),
    case("other field name", JSONL, "(its fields: 'text', 'id'; set --prompt-field)",
         {"p.jsonl": '{"text": "hi", "id": 1}\n'}),
    case("prompt is a number", JSONL, "p.jsonl:1: row has no non-empty string field", {"p.jsonl": '{"prompt": 42}\n'}),
    case("row is a list", JSONL, "p.jsonl:2: row has no non-empty string field", {"p.jsonl": rows("a") + '["a"]\n'}),
    case("row is null", JSONL, "p.jsonl:1: row has no non-empty string field", {"p.jsonl": "null\n" + rows("a")}),
    case("latin-1 byte", JSONL, "not UTF-8 text: line 3 has byte 0xe9",
         {"p.jsonl": rows("a", "b").encode() + b'{"prompt": "caf\xe9"}\n'}),
    case("UTF-16 file", JSONL, "not UTF-8 text: line 1 has byte 0xff", {"p.jsonl": rows("a", "b").encode("utf-16")}),
    case("truncated JSON", JSON, "p.json: not valid JSON", {"p.json": '[{"prompt": "a"}, '}),
    case("JSON object, not a list", JSON, "expected a JSON list of prompts, not a dict", {"p.json": '{"prompt": "a"}'}),
    case("nesting too deep", JSON, "not valid JSON (RecursionError", {"p.json": "[" * 100_000 + "]" * 100_000}),
    case("integer too long", JSONL, "p.jsonl:1: not valid JSON (ValueError",
         {"p.jsonl": '{"prompt": ' + "9" * 5000 + "}"}),
    case("lone surrogate", JSONL, "p.jsonl:1: the prompt holds a lone surrogate",
         {"p.jsonl": '{"prompt": "a\\ud800"}\n'}),
    case("not .jsonl or .json", ["--prompts", "{tmp}/p.txt"], "must end in .jsonl or .json", {"p.txt": "one\ntwo\n"}),
    case("prompts path is a folder", JSONL, "is a folder, not a file", {"p.jsonl": None}),
    case("duplicates leave too few", JSONL, "has 1 distinct prompts, not more than num_eval_prompts=1",
         {"p.jsonl": rows("same", "same", "same")}),
    # (a reward named by import path: the built-in one is refused on other prompts before the model loads)
    case("prompt longer than the context", [*JSONL, "--reward-fn", "sealign.tasks.summarize:prompt_reward"],
         "p.jsonl:3: the prompt is",
         {"p.jsonl": rows("one", "two", LONG, "four")}),
    case("max_new_tokens fills the context", ["--max-new-tokens", "256"], "fills the model's whole context window"),
    # --- config files: unknown keys, wrong types, impossible values
    case("YAML dashed key", CONFIG, "did you mean 'num_candidates'? use underscores",
         {"c.yaml": "num-candidates: 4\n"}),
    case("YAML integer key", CONFIG, "unknown setting(s) 1", {"c.yaml": "1: 2\n"}),
    case("YAML not UTF-8", CONFIG, "is not UTF-8 text", {"c.yaml": b"beta: 0.1  # caf\xe9\n"}),
    case("YAML text for an int", CONFIG, "budget must be int (got 'lots')", {"c.yaml": "budget: lots\n"}),
    case("YAML bool for a float", CONFIG, "lr must be float (got True)", {"c.yaml": "lr: true\n"}),
    case("YAML null", CONFIG, "beta must be float (got None)", {"c.yaml": "beta: null\n"}),
    case("YAML bad choice", CONFIG, "schedule must be one of ('online', ", {"c.yaml": "schedule: sometimes\n"}),
    case("YAML NaN", CONFIG, "beta must be a finite number (got nan)", {"c.yaml": "beta: .nan\n"}),
    case("YAML M < 2", CONFIG, "num_candidates must be >= 2", {"c.yaml": "num_candidates: 0\n"}),
    # --- flags
    case("unknown flag", ["--betta", "0.1"], "Unrecognized options: --betta, 0.1 (did you mean --beta?)"),
    case("flag of the wrong type", ["--budget", "1.5"], "Error parsing --budget"),
    case("flag without its value", ["--budget"], "Missing value for argument '--budget'"),
    case("flag bad choice", ["--schedule", "sometimes"], "invalid choice 'sometimes' for argument '--schedule'"),
    case("beta NaN", ["--beta", "nan"], "beta must be a finite number (got nan)"),
    case("negative lr", ["--lr", "-1"], "lr must be > 0 (got -1.0)"),
    case("infinite lr", ["--lr", "inf"], "lr must be a finite number (got inf)"),
    case("negative temperature", ["--temperature", "-0.5"], "temperature must be >= 0"),
    case("top_p zero", ["--top-p", "0"], "top_p must be in (0, 1]"),
    case("top_p above one", ["--top-p", "1.5"], "top_p must be in (0, 1]"),
    case("batch_size zero", ["--batch-size", "0"], "batch_size must be >= 1"),
    case("label_smoothing one half", ["--label-smoothing", "0.5"], "label_smoothing must be in [0, 0.5)"),
    case("negative seed", ["--seed", "-1"], "seed must be in [0, 2**63)"),
    case("dtype typo", ["--dtype", "float33"], "dtype must be one of float32"),
    case("device typo", ["--device", "gpu"], "device 'gpu' is not a torch device; use auto, cpu"),
    case("CUDA without a GPU", ["--device", "cuda"], "no CUDA GPU is visible here; use --device cpu", marks=(NO_GPU,)),
    case("adam_beta2 one", ["--adam-beta2", "1"], "adam_beta2 must be in [0, 1)"),
    case("negative weight_decay", ["--weight-decay", "-0.1"], "weight_decay must be >= 0"),
    case("grad_clip zero", ["--grad-clip", "0"], "grad_clip must be > 0"),
    case("lr schedule typo", ["--lr-schedule", "cosin"], "invalid choice 'cosin' for argument '--lr-schedule'"),
    case("lr floor above one", ["--lr-min-ratio", "2"], "lr_min_ratio must be in [0, 1]"),
    case("negative threads", ["--threads", "-2"], "threads must be >= 0"),
    case("out_dir under a file", ["--out-dir", "{tmp}/f/runs"], "is a file, not a folder", {"f": "x"}),
    case("reward_fn module fails on import", ["--reward-fn", "boom_reward:score"],
         "cannot import reward_fn 'boom_reward:score': ZeroDivisionError", {"boom_reward.py": "1 / 0\n"}),
    # --- checkpoints: policy folders that are missing or corrupt
    case("policy folder empty", ["--policy", "{broken}/empty"], "has no config.json"),
    case("policy without weights", ["--policy", "{broken}/no-weights"], "no file named model.safetensors"),
    case("policy config not JSON", ["--policy", "{broken}/bad-config"], "is not a valid JSON file"),
    case("policy weights corrupt", ["--policy", "{broken}/corrupt-weights"], "cannot load model"),
    case("policy weights truncated", ["--policy", "{broken}/truncated-weights"], "cannot load model"),
    case("policy without tokenizer", ["--policy", "{broken}/no-tokenizer"], "cannot load model"),
    # --- logs and queues: an existing run, another run's log given as a queue or a cache
    case("run folder already holds a run", ["--run-name", "existing"], "already holds a run"),
    case("human-db is a feedback log", ["--oracle", "human", "--human-db", "{log}"],
         "is a SQLite database but not a feedback queue"),
    case("judge-cache is a feedback log", ["--oracle", "judge", "--judge-url", "http://127.0.0.1:9/v1",
                                           "--judge-cache", "{log}"], "is a SQLite database but not a judge cache"),
    case("raters --db is a feedback log", ["list", "--db", "{log}"], "not a feedback queue", command="raters"),
    case("serve-feedback --db is a feedback log", ["--db", "{log}"], "not a feedback queue", command="serve-feedback"),
    case("plot flag typo", ["{tmp}/runs/existing", "--log_x"], "unrecognized arguments: --log_x", command="plot"),
]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def policy_dir(tiny_policy, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny-policy")
    tiny_policy.save(path)
    return path


@pytest.fixture(scope="module")
def broken_policies(policy_dir, tmp_path_factory) -> Path:
    """Saved policies with one part missing or damaged, as a crash or a bad copy leaves them."""
    root = tmp_path_factory.mktemp("broken")
    (root / "empty").mkdir()
    for name in ("no-weights", "bad-config", "corrupt-weights", "truncated-weights", "no-tokenizer"):
        shutil.copytree(policy_dir, root / name)
    (root / "no-weights" / "model.safetensors").unlink()
    (root / "bad-config" / "config.json").write_text('{"model_type": "llama", ')
    (root / "corrupt-weights" / "model.safetensors").write_bytes(b"\x00garbage" * 64)
    weights = (root / "truncated-weights" / "model.safetensors").read_bytes()
    (root / "truncated-weights" / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    for file in ("tokenizer.json", "tokenizer_config.json"):
        (root / "no-tokenizer" / file).unlink()
    return root


def existing_run(runs: Path) -> Path:
    """A run folder with answers already logged: what a refused command must leave untouched."""
    (runs / "existing").mkdir(parents=True)
    prompt = Prompt("p", "a prompt")
    with FeedbackLog(runs / "existing" / "feedback.sqlite", "existing") as log:
        log.append([Comparison(id=f"c{k}", run_id="existing", step=0, prompt=prompt, a=Candidate(prompt, [1], [2], "a"),
                               b=Candidate(prompt, [1], [3], "b"), winner="a", prob_a=0.9, oracle="bt-simulator",
                               timestamp=time.time()) for k in range(3)])
    (runs / "existing" / "metrics.jsonl").write_text('{"step": 0, "queries": 3, "eval/win_rate": 0.5}\n')
    return runs / "existing" / "feedback.sqlite"


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_files(root: Path, files: dict) -> None:
    for name, content in files.items():
        path = root / name
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())


# ----------------------------------------------------------------------------- the matrix
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_is_refused_in_one_line(case, tmp_path, capsys, monkeypatch, policy_dir, broken_policies):
    log = existing_run(tmp_path / "runs")
    write_files(tmp_path, case.files)
    monkeypatch.syspath_prepend(str(tmp_path))  # where a case's reward_fn module lives
    before = snapshot(tmp_path / "runs")
    places = {"{tmp}": str(tmp_path), "{policy}": str(policy_dir), "{broken}": str(broken_policies), "{log}": str(log)}
    args = [*SAFE, *case.args] if case.command == "run" else case.args
    for key, value in places.items():
        args = [a.replace(key, value) for a in args]

    code = main([case.command, *args])

    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and case.message in err, err
    assert snapshot(tmp_path / "runs") == before  # nothing logged touched, no half-made run folder


def test_the_matrix_is_wide():
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


# ----------------------------------------------------------------------------- decisions, shown
def test_duplicate_prompts_are_dropped_with_a_logged_count(tmp_path, caplog):
    from sealign.config import RunConfig
    from sealign.data.prompts import load_prompts

    (tmp_path / "p.jsonl").write_text(rows("a", "b", "a", "c", "b", "d"))
    config = RunConfig(prompts=str(tmp_path / "p.jsonl"), num_eval_prompts=1, batch_size=1)
    train, held_out = load_prompts(config)
    assert [p.text for p in train] == ["a", "b", "c"] and [p.text for p in held_out] == ["d"]
    assert "2 duplicate prompt(s) dropped" in caplog.text


# ----------------------------------------------------------------------------- refused logs stay as they were
def damage(path: Path, kind: str) -> None:
    """Turn a fresh feedback log of run 'mine' into one that must be refused."""
    with sqlite3.connect(path) as db:
        if kind == "newer schema":  # a later sealign: other tables, a higher version
            db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
            db.execute("ALTER TABLE comparisons RENAME TO comparisons_v2")
        elif kind == "unreadable version":
            db.execute("UPDATE meta SET value = 'two' WHERE key = 'schema_version'")
        elif kind == "a feedback queue":
            db.execute("DROP TABLE meta")
            db.execute("DROP TABLE comparisons")
            db.execute("CREATE TABLE pairs (id TEXT)")
    db.close()
    if kind == "not SQLite":
        path.write_bytes(b"SQLite format 2\x00" + b"\x07" * 4000)


@pytest.mark.parametrize("kind, message", [
    ("another run", "belongs to run 'other'"),
    ("newer schema", "has schema v2, newer than this sealign"),
    ("unreadable version", "unreadable schema version 'two'"),
    ("a feedback queue", "not a feedback log"),
    ("not SQLite", "not a readable SQLite database"),
])
def test_a_refused_feedback_log_is_left_byte_identical(kind, message, tmp_path):
    path = tmp_path / "feedback.sqlite"
    FeedbackLog(path, "other").close()
    damage(path, kind)
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=message):
        FeedbackLog(path, "mine")
    assert snapshot(tmp_path) == before

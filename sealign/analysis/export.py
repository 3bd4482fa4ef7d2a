"""`sealign export`: a run's feedback log as a preference dataset in TRL's columns.

Every answered pair becomes a row ``prompt, chosen, rejected`` (what TRL's DPOTrainer and most
preference-data tooling read) with where it came from: ``step``, ``oracle``, ``probability`` (the
oracle's probability that ``chosen`` is better; empty when it gave none), ``source`` (``oracle``,
or how a pair was labelled without a query: ``reward-model``, ``ranked``), ``cost`` and ``cost_unit``.

Two kinds of query have no chosen and rejected side, and are left out, counted and printed, never
dropped silently: ties (the oracle saw no difference; a DPO pair needs a winner) and unanswered
queries (skipped: the oracle abstained or failed; nothing was logged but the count).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sealign.errors import UserError
from sealign.records.feedback_log import open_run_log
from sealign.records.types import Comparison

FORMATS = {"jsonl": "preferences.jsonl", "parquet": "preferences.parquet", "hf": "preferences"}


@dataclass
class Export:
    rows: list[dict]
    ties: int
    unanswered: int
    model_labelled: int
    """Rows labelled without a query (source != oracle), in ``rows`` or, with --no-model-labels, left out."""


def preference_rows(run_dir: Path, model_labels: bool = True) -> Export:
    with open_run_log(run_dir) as feedback:
        comparisons = feedback.read(source=None)
        unanswered = feedback.unanswered()
    rows, ties, model_labelled = [], 0, 0
    for c in comparisons:
        if c.winner == "tie":
            ties += 1
            continue
        if c.source != "oracle":
            model_labelled += 1
            if not model_labels:
                continue
        rows.append(preference_row(c))
    return Export(rows, ties, unanswered, model_labelled)


def preference_row(c: Comparison) -> dict:
    probability = None if c.prob_a is None else (c.prob_a if c.winner == "a" else 1.0 - c.prob_a)
    return {"prompt": c.prompt.text, "chosen": c.chosen.text, "rejected": c.rejected.text, "step": c.step,
            "oracle": c.oracle, "probability": probability, "source": c.source, "cost": c.cost,
            "cost_unit": c.cost_unit, "id": c.id}


def export_run(run_dir: Path, fmt: str, out: Path | None = None, model_labels: bool = True) -> tuple[Path, Export]:
    """Writes the run's preference dataset; returns where, and what was and was not written."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    data = preference_rows(run_dir, model_labels)
    if not data.rows:
        raise UserError(f"{run_dir} holds no preference pair to export ({left_out(data, model_labels)})")
    out = out or Path(run_dir) / FORMATS[fmt]
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        with open(out, "w", encoding="utf-8") as file:
            for row in data.rows:
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        dataset = as_dataset(data.rows)
        if fmt == "parquet":
            dataset.to_parquet(str(out))
        else:
            dataset.save_to_disk(str(out))
    return out, data


def as_dataset(rows: list[dict]):
    try:
        import datasets
    except ImportError as err:
        raise UserError("parquet and hf exports need the datasets package: pip install 'sealign[data]'") from err
    return datasets.Dataset.from_list(rows)


def left_out(data: Export, model_labels: bool) -> str:
    parts = [f"{data.ties} tie(s) (no preferred side)", f"{data.unanswered} unanswered query(ies)"]
    if not model_labels:
        parts.append(f"{data.model_labelled} model-labelled pair(s) (--no-model-labels)")
    return "left out: " + ", ".join(parts)

"""Where the prompts come from, and how many. A leaf: imports nothing from sealign."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataSettings:
    """The task and the prompt source (docs/real-models.md, docs/ecosystem.md)."""

    task: str = "tldr"
    """Built-in task behind --prompts builtin and --reward-fn builtin: 'tldr' (generated posts to
    summarise; the tiny built-in policy's task) or 'constraints' (instructions with verifiable
    constraints, for real models); see sealign/tasks/."""
    prompts: str = "builtin"
    """'builtin' (the task's prompts), a local .jsonl / .json / .parquet / .csv file, a `save_to_disk`
    folder, or a Hugging Face Hub dataset name (the last three need the `data` extra)."""
    prompt_field: str = "prompt"
    """Field holding the prompt: a string, or a chat `messages` list whose last user turn is the prompt."""
    prompt_split: str = "train"
    """Split of a dataset to read (a .jsonl / .json file has only its rows)."""
    reference_field: str = ""
    """Field holding a reference response per prompt (a string, or a `messages` list whose last
    assistant turn is taken); the policy's win rate against them is recorded as eval/win_rate_vs_reference."""
    num_train_prompts: int = 4096
    """Size of the built-in task's training prompt set (files use all their rows; the constraints
    task has 384 and uses at most those)."""
    num_eval_prompts: int = 128

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs; ``RunConfig.validate`` raises the first message that is not ok."""
        return [
            (self.num_eval_prompts >= 1, f"num_eval_prompts must be >= 1 (got {self.num_eval_prompts})"),
            (self.num_train_prompts >= 1, f"num_train_prompts must be >= 1 (got {self.num_train_prompts})"),
        ]

"""Prompts from Hugging Face `datasets`: a .parquet / .csv file, a `save_to_disk` folder, or a Hub dataset.

Rows go through the same field rules as a .jsonl file (sealign/data/rows.py: a string field, or
a chat ``messages`` list whose last user turn is the prompt), and every fault is one line: a missing
`datasets` package, a split or field the dataset does not have, a Hub that cannot be reached.
"""

from __future__ import annotations

from pathlib import Path

from sealign.data.rows import PromptRow, row_of
from sealign.errors import UserError, first_line

BUILDERS = {".parquet": "parquet", ".csv": "csv"}


def _datasets():
    try:
        import datasets
    except ImportError as err:
        raise UserError("prompts from a .parquet / .csv file, a save_to_disk folder or the Hub need the data "
                        "extra: pip install 'sealign[data]'") from err
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:  # the Hub client logs each retry of an unreachable Hub; the one-line error says it all
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()
    except ImportError:
        pass
    return datasets


def is_local(source: str) -> bool:
    path = Path(source).expanduser()
    return source.startswith((".", "/", "~")) or path.exists() or path.suffix in BUILDERS


def read_dataset_rows(source: str, split: str, field: str, reference_field: str = "") -> list[PromptRow]:
    """Every row of ``split`` of the dataset ``source`` as a prompt (and its reference)."""
    dataset = load_split(source, split)
    for name, flag in ((field, "--prompt-field"), (reference_field, "--reference-field")):
        if name and name not in dataset.column_names:
            raise UserError(f"dataset {source} has no field {name!r} (its fields: "
                            f"{', '.join(map(repr, dataset.column_names))[:120]}); set {flag}")
    rows = [row_of(f"{source} split {split} row {number}", row, field, reference_field)
            for number, row in enumerate(dataset, start=1)]
    if not rows:
        raise UserError(f"dataset {source} split {split!r} holds no rows")
    return rows


def load_split(source: str, split: str):
    """One split of ``source`` as a `datasets.Dataset`."""
    datasets = _datasets()
    path = Path(source).expanduser()
    if is_local(source):
        if not path.exists():
            raise UserError(f"prompt source {source} not found")
        if path.is_dir():
            try:
                loaded = datasets.load_from_disk(str(path))
            except (FileNotFoundError, ValueError) as err:
                raise UserError(f"{source} is not a folder written by save_to_disk ({first_line(err)})") from err
        elif path.suffix in BUILDERS:
            try:
                loaded = datasets.load_dataset(BUILDERS[path.suffix], data_files=str(path))
            except Exception as err:  # a malformed file: pyarrow and pandas raise many kinds, all one line here
                raise UserError(f"cannot read {source} ({type(err).__name__}: {first_line(err)})") from err
        else:
            raise UserError(f"prompt file {source} must end in .jsonl or .json (or be a .parquet / .csv file, "
                            "a save_to_disk folder or a Hub dataset name)")
    else:
        try:
            loaded = datasets.load_dataset(source)
        except Exception as err:  # offline, unknown name, private: the Hub's errors come in many kinds
            raise UserError(f"cannot load dataset {source!r} from the Hugging Face Hub ({type(err).__name__}: "
                            f"{first_line(err)}); offline? pass a local file or a save_to_disk folder") from err
    if isinstance(loaded, datasets.Dataset):  # a saved single split: it is the data, whatever it was called
        return loaded
    if split not in loaded:
        raise UserError(f"dataset {source} has no split {split!r} (its splits: {', '.join(loaded)}); "
                        "set --prompt-split")
    return loaded[split]


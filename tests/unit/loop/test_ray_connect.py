"""sealign.runtime.ray_calls.connect: a run without --ray-address starts a cluster of its own."""

from types import SimpleNamespace

from sealign.runtime import ray_calls
from sealign.runtime.settings import RuntimeSettings


def fake_ray(calls):
    return SimpleNamespace(is_initialized=lambda: False, init=lambda **kwargs: calls.append(kwargs))


def test_without_an_address_the_run_starts_its_own_local_cluster(monkeypatch):
    # Ray's default (no address) attaches to the machine's latest cluster, another run's or a test's,
    # which then refuses num_cpus: "local" never does.
    calls = []
    monkeypatch.setattr(ray_calls, "import_ray", lambda: fake_ray(calls))
    ray_calls.connect(RuntimeSettings())
    assert calls[0]["address"] == "local" and calls[0]["num_cpus"] == 2


def test_an_address_is_passed_through(monkeypatch):
    calls = []
    monkeypatch.setattr(ray_calls, "import_ray", lambda: fake_ray(calls))
    ray_calls.connect(RuntimeSettings(ray_address="auto"))
    assert calls[0]["address"] == "auto" and "num_cpus" not in calls[0]

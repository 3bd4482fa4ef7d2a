"""A generation backend is its module plus one line in ``BACKENDS``: the runtime finds its engine and its
check there, and the settings refuse what it cannot do."""

from __future__ import annotations

import sys
import types

import pytest

from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.policy import backends
from sealign.policy.settings import BACKENDS, Backend


class EchoEngine:
    """A stand-in engine: remembers what it was built over."""

    def __init__(self, path, policy, config):
        self.path, self.policy, self.config = path, policy, config


def refuse():
    raise UserError("--policy-backend echo needs a machine that has it")


@pytest.fixture
def echo_backend(monkeypatch):
    module = types.ModuleType("echo_backend")
    module.EchoEngine, module.refuse = EchoEngine, refuse
    monkeypatch.setitem(sys.modules, "echo_backend", module)
    monkeypatch.setitem(BACKENDS, "echo", Backend(engine="echo_backend:EchoEngine", check="echo_backend:refuse",
                                                  reference_samples=False))


def test_the_hf_backend_samples_with_the_learners_policy_itself():
    policy = object()
    assert backends.generation_policy("hf", policy, "unused", RunConfig()) is policy
    backends.check_backend("hf")  # nothing to refuse


def test_a_registered_backend_is_built_over_the_policy_and_checked(echo_backend):
    policy, config = object(), RunConfig()
    engine = backends.generation_policy("echo", policy, "some/path", config)
    assert isinstance(engine, EchoEngine) and (engine.path, engine.policy, engine.config) == ("some/path", policy,
                                                                                              config)
    with pytest.raises(UserError, match="needs a machine"):
        backends.check_backend("echo")


def test_reference_candidates_need_a_backend_that_can_draw_them(echo_backend):
    with pytest.raises(ConfigError, match="needs --policy-backend hf"):
        RunConfig(reference_candidates=1, policy_backend="echo").validate()
    with pytest.raises(ConfigError, match="unknown policy_backend 'nope'"):
        RunConfig(policy_backend="nope").validate()

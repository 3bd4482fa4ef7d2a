"""Assembles a run's parts from its configuration. The loop only ever sees the assembled parts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from sealign.config import RunConfig
from sealign.data.prompts import PromptOrder, check_prompt_lengths, load_prompts
from sealign.errors import ConfigError
from sealign.exploration import REGISTRY as EXPLORERS
from sealign.exploration import Explorer, build_explorer
from sealign.exploration.base import ExplorerPowers, RewardModel, powers_of
from sealign.learning.learner import PreferenceLearner
from sealign.learning.losses import LOSSES
from sealign.lookup import pick
from sealign.oracles import REGISTRY as ORACLES
from sealign.oracles import Oracle, build_oracle
from sealign.oracles.budget import CostBudget
from sealign.policy import load_policy
from sealign.policy.base import TrainablePolicy
from sealign.policy.builtin import bootstrap_task
from sealign.policy.registry import check_policy_name, resolve_policy
from sealign.records.types import PreferenceBatch, Prompt
from sealign.run.eval import WinRateEvaluator, build_evaluator
from sealign.run.eval_settings import EvalSettings
from sealign.run.explorer_inputs import explorer_inputs, resolve_features
from sealign.run.label_plan import LabelPlan
from sealign.run.learning_settings import LearningSettings
from sealign.run.model_labels import require_reward_model
from sealign.run.round_selection import require_scorer
from sealign.run.sampling_settings import SamplingSettings
from sealign.run.warm_start import read_offline_rows, tokenize
from sealign.runtime import ActorHandle, build_runtime
from sealign.tasks import get_task
from sealign.trackers import check_installed


@dataclass
class RunParts:
    policy: TrainablePolicy
    actor: ActorHandle
    explorer: Explorer
    powers: ExplorerPowers
    """What the explorer can do besides select and update (found once, here)."""
    label_plan: LabelPlan
    """What each step's policy update learns from (decided once, here, from the settings and the powers)."""
    reward_model: RewardModel | None
    """The explorer's learned reward model, when it has one: model labels, Best-of-N, the best round."""
    oracle: Oracle
    oracle_budget: CostBudget | None
    """The oracle's spending cap (--oracle-max-cost), when it has one: the loop stops once it is spent."""
    learner: PreferenceLearner
    evaluator: WinRateEvaluator
    prompt_order: PromptOrder
    eval_prompts: list[Prompt]
    validation_prompts: list[Prompt]
    """Training prompts held out to pick an iterative run's best round (empty unless asked for)."""
    offline_data: PreferenceBatch | None = None
    """--offline-data, tokenized: trained on before the first query (warm_start.py)."""


def resolve_policy_path(config: RunConfig, log=print) -> str:
    """The folder or Hub name of the run's policy: the built-in one and registered offline models
    are built or converted once into the cache (sealign/policy/registry.py)."""
    cache = Path(config.cache_dir) if config.cache_dir else None
    return resolve_policy(config.policy, cache, config.sft_steps, log, task=config.task)


def check_names(config: RunConfig) -> None:
    """Refuse unknown part names before anything slow (a model load) happens."""
    pick("explorer", config.explorer, EXPLORERS)
    pick("oracle", config.oracle, ORACLES)
    pick("loss", config.loss, LOSSES)
    check_policy_name(config.policy)
    get_task(config.task)


def check_rule_reward(config: RunConfig) -> None:
    """The rule oracle with the built-in reward on the user's prompts: the task's reward cannot judge
    them (the constraints task's reads its constraints from the prompt), so every query would be an
    abstention, spent and never learned from, and every evaluation NaN."""
    if config.oracle == "rule" and config.prompts != "builtin" and config.reward_fn == "builtin":
        raise ConfigError(f"the rule oracle on your own prompts needs --reward-fn module:function: the built-in "
                          f"reward scores the {config.task} task's prompts only")


def assemble(config: RunConfig, log=print) -> RunParts:
    # Cheap checks first: a typo must not cost a model load.
    check_rule_reward(config)
    train_prompts, eval_prompts = load_prompts(config)
    train_prompts, validation_prompts = split_validation(config, train_prompts)
    check_names(config)
    check_installed(config.report_to)
    offline_rows = read_offline_rows(config, train_prompts) if config.offline_data else []
    # the actor, oracle and learner come from the runtime (local or Ray);
    # the policy here is the driver's, used by the explorer and the evaluator.
    runtime = build_runtime(config)
    oracle = runtime.oracle()
    judge_kind = eval_judge_kind(config)
    if config.policy == "builtin" and (trained_on := bootstrap_task(config.task)) != config.task:
        log(f"note: the built-in policy was trained on the {trained_on} task only; for --task {config.task} use a "
            "real model (--preset real, or --policy smollm2-135m)")
    policy_path = resolve_policy_path(config, log)  # a one-time build (SFT, conversion) uses every core
    if config.threads:
        torch.set_num_threads(config.threads)
    policy = load_policy(config, policy_path)
    check_prompt_lengths(config, train_prompts + eval_prompts, policy)  # reliability: before any query
    torch.manual_seed(config.seed)
    learner = runtime.learner(policy, policy_path)
    explorer_config = resolve_features(config)
    explorer = build_explorer(explorer_config, policy, **explorer_inputs(explorer_config, policy))
    powers = powers_of(explorer)
    label_plan = LabelPlan.build(config.part(LearningSettings), powers)
    for wanted, what in [(label_plan.erm_sync > 0, "--erm-sync"), (label_plan.reward_model_signals,
                         "--policy-signal reward-model"), (config.eval_best_of_n > 1, "--eval-best-of-n")]:
        if wanted:
            require_reward_model(powers.reward_model, what)
    if validation_prompts:
        require_scorer(powers.reward_model)
    # The judge of an evaluation is never the run's capped, counted oracle itself: a fresh instance, uncapped.
    judge = build_oracle("ground-truth" if judge_kind == "reward" else config.oracle,
                         dataclasses.replace(config, oracle_max_cost=0.0))
    uses_task_reward = judge_kind == "reward" and config.reward_fn == "builtin"
    evaluator = build_evaluator(
        config.part(EvalSettings), config.part(SamplingSettings), config.seed, policy, eval_prompts, judge,
        reward_fn=judge.reward_fn if judge_kind == "reward" else None,
        best_of_n=config.eval_best_of_n, reward_model=powers.reward_model,
        both_orders=judge_kind == "oracle", prob_temperature=win_prob_temperature(config),
        judge_name="reward" if judge_kind == "reward" else f"oracle:{config.oracle}",
        extra_scores=dict(get_task(config.task).eval_scores) if uses_task_reward else None,
    )
    prompt_order = PromptOrder(train_prompts, config.batch_size, config.seed)
    actor = runtime.actor(policy, policy_path, prompt_order)
    offline_data = tokenize(offline_rows, policy, config.offline_data) if offline_rows else None
    return RunParts(policy=policy, actor=actor, explorer=explorer, powers=powers, label_plan=label_plan,
                    reward_model=powers.reward_model,
                    oracle=oracle, oracle_budget=oracle if isinstance(oracle, CostBudget) else None,
                    learner=learner, evaluator=evaluator, prompt_order=prompt_order, eval_prompts=eval_prompts,
                    validation_prompts=validation_prompts, offline_data=offline_data)


def win_prob_temperature(config: RunConfig) -> float | None:
    """The temperature of ``eval/win_prob`` from the judge's reward: the oracle's own when it is the
    Bradley-Terry simulator over that reward, so the number is what it would answer; any other oracle
    rates at no temperature (a rule, an LLM judge), so None: no ``eval/win_prob`` from a reward."""
    return config.oracle_temperature if config.oracle == "bt-simulator" else None


def eval_judge_kind(config: RunConfig) -> str:
    """'reward' or 'oracle' (see ``RunConfig.eval_judge``); refuses the judges that would mislead."""
    # The built-in reward is the built-in task's (--task): it knows nothing of the user's prompts.
    foreign_prompts = config.prompts != "builtin" and config.reward_fn == "builtin"
    if config.eval_judge == "reward" or (config.eval_judge == "auto" and not foreign_prompts):
        if foreign_prompts:
            raise ConfigError("--eval-judge reward on your own prompts needs --reward-fn: the built-in reward "
                              "scores the built-in task's prompts only")
        return "reward"
    if config.eval_judge == "auto" and config.oracle == "bt-simulator":
        raise ConfigError("the bt-simulator oracle on your own prompts needs --reward-fn: the built-in reward "
                          "scores the built-in task's prompts only")
    if config.eval_judge == "auto" and config.oracle == "human":
        raise ConfigError("evaluating with human raters would ask them about every held-out prompt at every "
                          "evaluation; pass --reward-fn to evaluate with it, or --eval-judge oracle to ask them")
    return "oracle"


def split_validation(config: RunConfig, train_prompts: list[Prompt]) -> tuple[list[Prompt], list[Prompt]]:
    """The last ``validation_prompts`` training prompts become the validation split."""
    n = config.validation_prompts
    if n == 0:
        return train_prompts, []
    if len(train_prompts) - n < config.batch_size:
        raise ConfigError(f"validation_prompts={n} leaves {len(train_prompts) - n} of the {len(train_prompts)} "
                          f"training prompts, fewer than batch_size={config.batch_size}; lower --validation-prompts")
    return train_prompts[:-n], train_prompts[-n:]

"""One flat, typed run configuration, set by a preset, a YAML file and command-line flags (in that order).

Flat on purpose (as in oat): every knob is one `--flag`, one YAML key and one line of the resolved
`config.yaml` a run writes, so any curve can be re-run exactly with `sealign run --config`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from sealign.errors import ConfigError


@dataclass
class RunConfig:
    # --- run ---------------------------------------------------------------------------------
    preset: str = "online-dpo"
    """Named recipe whose settings are the starting point (see `sealign presets`)."""
    seed: int = 0
    out_dir: str = "runs"
    """Runs are written to OUT_DIR/RUN_NAME."""
    run_name: str = ""
    """Defaults to PRESET-sSEED."""
    cache_dir: str = ""
    """Where the built-in SFT policy is cached; default $SEALIGN_CACHE or ~/.cache/sealign."""
    device: str = "auto"
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default."""

    # --- data --------------------------------------------------------------------------------
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

    # --- policy ------------------------------------------------------------------------------
    policy: str = "builtin"
    """'builtin' (tiny SFT policy built on first use), a registered offline model ('smollm2-135m';
    `sealign models`), a local save_pretrained folder, or a Hub name (org/model)."""
    dtype: str = "float32"
    sft_steps: int = 700
    """SFT steps of the built-in policy's bootstrap (a different value builds and caches another policy)."""
    max_new_tokens: int = 24
    temperature: float = 1.0
    """Sampling temperature of the candidates shown to the explorer."""
    top_p: float = 1.0
    second_temperature: float = 0.0
    """When > 0, half of the M candidates are sampled at this temperature (RLHFlow: 1.0 and 0.7)."""

    # --- exploration -------------------------------------------------------------------------
    explorer: str = "passive"
    """passive | ensemble-passive | sea-ee | sea-bai | uncertainty | ids | best-worst | apl | selm-rank |
    pairwise-rank (docs/exploration.md)."""
    num_candidates: int = 4
    """M: responses sampled per prompt, among which the explorer picks the pair to ask about."""
    reference_candidates: int = 0
    """The last this many of the M candidates are sampled from the reference policy, not the policy
    (XPO: 1, with the xpo explorer asking about a policy sample against it)."""
    # epistemic reward model of the ensemble explorers (docs/exploration.md)
    explore_heads: int = 20
    """K: MLP reward heads in the epistemic ensemble (oat: 20)."""
    explore_width: int = 128
    """Hidden width of each head (oat: 128)."""
    explore_depth: int = 1
    """Hidden layers of each head (0 = linear heads)."""
    explore_prior_scale: float = 1.0
    """Scale of each head's fixed random prior network (randomised prior functions); 0 = none."""
    explore_lr: float = 1e-3
    """Adam learning rate of the heads (oat: 1e-3)."""
    explore_weight_decay: float = 5e-5
    """Decoupled weight decay of the heads (oat: 5e-5)."""
    explore_reg: float = 0.5
    """Weight of the L2 pull toward each head's initial weights, divided by comparisons seen (oat: 0.5)."""
    explore_steps: int = 5
    """Adam steps on the replay buffer after each answered batch (oat: 5)."""
    explore_batch_size: int = 64
    """Comparisons per ensemble minibatch, drawn from all answers so far."""
    explore_bootstrap: Literal["poisson", "bernoulli", "none"] = "poisson"
    """Per-head resampling of the answers: 'poisson' (online bootstrap), 'bernoulli' (double or nothing), 'none'."""
    explore_features: str = "policy"
    """Feature backbone of the heads: 'policy' (frozen copy of the initial policy), 'minilm', or an AutoModel folder."""
    explore_pooling: Literal["mean", "last"] = "mean"
    """Pooling of the backbone's last hidden states over the response: 'mean' or 'last' (token)."""
    explore_resample_tries: int = 20
    """sea-ee: second heads tried while their best equals the first's, before the fallback (oat: K)."""
    explore_fallback: Literal["random", "second-best"] = "random"
    """sea-ee: when all tried heads agree, pair y1 with a 'random' other candidate or the 'second-best'."""
    explore_uncertainty: Literal["prob", "logit"] = "prob"
    """uncertainty, sea-bai: a pair's uncertainty is the heads' variance of the win probability
    sigmoid(r_i - r_j) ('prob', FORMULAS.md) or of the margin r_i - r_j ('logit', as oat)."""
    length_penalty: float = 0.0
    """Ensemble explorers rank with r - length_penalty * |y| (|y| in characters; Dong et al. 2024 sec. 3)."""
    apl_prompt_fraction: float = 1.0
    """apl: share of each batch's prompts queried, those of highest predictive entropy (1 = all)."""
    apl_entropy: Literal["sequence", "token"] = "sequence"
    """apl: predictive entropy from summed sequence log-probs (APL, oat) or per-token means."""
    ranker_model: str = "builtin"
    """pairwise-rank: the pairwise preference model (a save_pretrained folder or Hub name) that ranks
    the candidates; 'builtin' = the built-in task's, built once from the SFT policy (batches and
    truncation follow oracle_batch_size / oracle_max_length)."""

    # --- what learns from what (Liu et al. 2024 Table 1; Asghari et al. 2026 sec. 4.3.3) ---------------------
    learn_policy: bool = True
    """Off: the policy never changes; only the explorer's reward model learns (Table 1 row 7)."""
    erm_sync: float = 0.0
    """SEA's mixed preference learning (ERM sync): the share r of the policy's data labelled by the
    epistemic reward model instead of the oracle (oat: 0.3); 0 = off. See erm_mode."""
    erm_mode: Literal["replace", "add"] = "replace"
    """replace (oat): floor(r * batch) prompts per step are labelled by one sampled head's largest-margin
    pair instead of being asked, saving those queries; add: every prompt is asked and best-vs-worst
    pairs by the ensemble mean are added on top, r of the policy's batch (no query saved)."""
    erm_burn_in: int = 5
    """Steps before reward-model labels join the policy's data."""
    policy_signal: Literal["preference", "reward-model"] = "preference"
    """preference: the loss learns from the oracle's (and ERM-sync) pairs; reward-model: reinforce
    signals from the reward model on the query pair and the (highest, lowest) pair (Asghari et al. 2026)."""
    query_free_batch: bool = False
    """reward-model signal: after each query batch's update, sample a second batch of prompts and
    update on the reward model's (highest, lowest) and (second-highest, second-lowest) pairs of each,
    spending no query (Asghari et al. 2026 sec. 4.3.3)."""
    eval_best_of_n: int = 0
    """Evaluate BoN(policy, R): the best of N samples by the reward model's mean; 0 = the policy."""
    preference_data: str = "builtin"
    """selm-rank: offline (prompt, chosen, rejected) data, 'builtin' or a file / dataset read as --offline-data
    is (Zhang et al. 2024 Alg. 1)."""
    offline_data: str = ""
    """Offline preference data trained on before the first query (a warm start for any recipe; offline DPO
    on it alone with --budget 0): a .jsonl/.json/.parquet/.csv file, a save_to_disk folder or a dataset name,
    with prompt/chosen/rejected text or chat messages; 'builtin' = the built-in task's (docs/ecosystem.md)."""
    variant: int = 0
    """Preset variant (sea: the rows 1-7 of Liu et al. 2024 Table 1); 0 = the preset's default."""

    # --- oracle ------------------------------------------------------------------------------
    oracle: str = "bt-simulator"
    reward_fn: str = "builtin"
    """Scalar reward behind the simulator, the rule oracle and the evaluation judge: 'builtin' (the
    task's, see --task) or an import path 'module:function(prompt, response)'."""
    oracle_temperature: float = 0.1
    """Bradley-Terry temperature: P(a > b) = sigmoid((r_a - r_b) / T)."""
    oracle_deterministic: bool = False
    """Answer the likelier side instead of sampling it."""
    oracle_consistent: bool = False
    """bt-simulator: the same question always gets the same answer (a rater who remembers); off, a
    question asked again at another step is a fresh draw (Asghari et al. 2026 sec. 3.2)."""
    oracle_max_cost: float = 0.0
    """Stop asking once the oracle's answers cost this much in its own unit (dollars for a priced
    judge, tokens, rater seconds); checked between batches; 0 = no limit (see docs/oracles)."""
    oracle_model: str = ""
    """reward-model / pairwise oracles: a local save_pretrained folder or a Hub model name."""
    oracle_batch_size: int = 16
    """Sequences per forward pass of a model oracle (reward-model, pairwise)."""
    oracle_max_length: int = 2048
    """Token limit of one model-oracle input; longer inputs are truncated from the left."""
    pairwise_order: Literal["both", "random"] = "both"
    """pairwise oracle: average both presentation orders, or show one random order per query."""
    judge_url: str = "https://api.openai.com/v1"
    """judge oracle: base URL of an OpenAI-compatible chat-completions endpoint."""
    judge_model: str = "gpt-4o-mini"
    judge_api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the judge's API key (unset: no key is sent, as for a local server)."""
    judge_template: str = ""
    """File with the judge prompt ({prompt}, {response_a}, {response_b}); empty = the built-in one."""
    judge_both_orders: bool = True
    """Ask each question in both orders to cancel the judge's position bias (costs twice)."""
    judge_concurrency: int = 8
    judge_timeout: float = 60.0
    """Seconds to wait for one judge reply before retrying."""
    judge_retries: int = 5
    """Retries (exponential backoff) on timeouts, 429 and 5xx before a query is skipped."""
    judge_cache: str = ""
    """SQLite cache of judge replies; empty = CACHE_DIR/judge-cache.sqlite, 'off' = none."""
    judge_max_tokens: int = 256
    judge_price_in: float = 0.0
    """Dollars per million prompt tokens; with judge_price_out > 0 costs are logged in usd, else in tokens."""
    judge_price_out: float = 0.0
    """Dollars per million completion tokens."""
    human_db: str = ""
    """human oracle: queue database shared with `sealign serve-feedback`; empty = RUN_DIR/human-queue.sqlite."""
    human_timeout: float = 3600.0
    """Seconds to wait for raters' answers to one batch; unanswered pairs are skipped."""
    human_max_pending: int = 64
    """Pairs waiting for raters at once; a larger batch is shown in chunks."""
    human_raters_per_pair: int = 1
    """Distinct raters asked about each pair (>1 gives inter-rater agreement; majority wins)."""

    # --- schedule ----------------------------------------------------------------------------
    schedule: Literal["online", "iterative", "offline"] = "online"
    """online: learn from every batch as it is answered; iterative: split the budget into `rounds`,
    collect a whole round with the current policy, then train on it (RLHFlow, SELM, Asghari et al.'s
    periodic baseline); offline: one round (the SFT policy collects everything, then trains)."""
    budget: int = 1536
    """Oracle queries to spend."""
    batch_size: int = 32
    """Prompts per step; one query per prompt."""
    offline_epochs: int = 3
    """Epochs over a round's data (offline and iterative schedules)."""
    rounds: int = 4
    """iterative: number of collect-then-train rounds the budget is split into."""
    round_data: Literal["all", "latest"] = "all"
    """iterative: train each round on all answers so far, or on the latest round's only."""
    round_init: Literal["last", "sft"] = "last"
    """iterative: each round continues from the last iterate, or restarts from the SFT weights."""
    round_reference: Literal["sft", "last"] = "sft"
    """iterative: the DPO reference stays the SFT policy, or becomes the last iterate (SELM)."""
    validation_prompts: int = 0
    """iterative: hold this many training prompts out as a validation split; after the last round the
    round whose responses to them the explorer's reward model scores highest is kept (Dong et al. 2024
    Alg. 2, "the best policy by a validation set"); 0 = keep the last round."""

    # --- loss --------------------------------------------------------------------------------
    loss: str = "dpo"
    """dpo | ipo | slic | simpo | selm | xpo | reinforce (formulas and defaults: docs/losses.md)."""
    beta: float = 0.1
    """KL strength of the DPO family (IPO's tau; SimPO's reward scale, 2.0 in its paper)."""
    label_smoothing: float = 0.0
    """cDPO flip probability (dpo, simpo, selm, xpo)."""
    sft_weight: float = 0.0
    """Weight of the SFT term -lp(y_w)/|y_w| added to any pairwise loss."""
    gamma_beta_ratio: float = 0.5
    """SimPO target margin as gamma / beta (oat's parameterisation): gamma = gamma_beta_ratio * beta."""
    alpha: float = 0.001
    """Exploration coefficient on lp(y), y ~ pi_ref: SELM adds alpha * beta * E[lp(y)] (Zhang et al. 2024
    eq. 4.2; grid 1e-4..5e-3), XPO adds alpha * lp(y) (no beta)."""
    nudge: float = 0.1
    """reinforce: the affirmative nudge added to every reinforcement signal (Asghari et al. 2026)."""
    anchor_weight: float = 0.1
    """reinforce: lambda in lambda * ||theta - theta_bar||^2, the pull toward the EMA anchor."""
    anchor_tau: float = 0.01
    """reinforce: EMA rate of the anchor, theta_bar <- (1 - tau) theta_bar + tau theta, per step."""

    # --- optimisation ------------------------------------------------------------------------
    lr: float = 3e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    grad_clip: float = 1.0
    micro_batch_size: int = 32
    """Gradient accumulation: a batch is split into micro-batches of this many pairs."""
    warmup_steps: int = 2

    # --- evaluation --------------------------------------------------------------------------
    eval_every: int = 8
    """Evaluate every this many learner steps (and at the start and the end)."""
    eval_judge: Literal["auto", "reward", "oracle"] = "auto"
    """Who judges the policy against the SFT policy: 'reward' = the ground-truth reward_fn (noiseless);
    'oracle' = the run's own oracle, both orders, outside its cost cap; 'auto' = 'reward' on the
    built-in prompts or with a --reward-fn, else 'oracle'."""
    eval_against: Literal["sft", "reference"] = "sft"
    """Headline win rate (plots, summary): against the SFT policy's responses, or against the prompts'
    reference responses (needs --reference-field; as the SEA and TRL TL;DR set-ups). Both are recorded
    when references exist."""
    eval_greedy: bool = False
    eval_temperature: float = 0.7
    """Used when eval_greedy is off."""
    report_to: str = ""
    """Experiment trackers that mirror metrics.jsonl: 'tensorboard', 'wandb' or 'tensorboard,wandb'
    (the `tensorboard` / `wandb` extras; docs/ecosystem.md). W&B logs offline without WANDB_API_KEY."""
    save_every: int = 10
    """Write a checkpoint every this many steps (and at the end); 0: at the end only. A resumed run
    replays the logged answers after its last checkpoint, so this trades disk time for replay time."""

    # --- scale: runtime, generation backend, LoRA (docs/scale.md) -------------------------------
    runtime: Literal["local", "ray"] = "local"
    """local: one process; ray: actors, oracles and the learner as Ray actors (needs the `ray` extra)."""
    actors: int = 1
    """ray: actor processes sampling candidates; a batch is split between them."""
    oracles: int = 1
    """ray: oracle processes answering queries; a batch of queries is split between them."""
    staleness: int = 0
    """ray: batches an actor may sample ahead of the learner (0 = exactly on-policy, as local; 1 = the
    next batch is sampled while the learner steps on this one, with weights one update old)."""
    ray_address: str = ""
    """ray: address of an existing cluster ('auto' or HOST:PORT); empty starts a local one."""
    policy_backend: Literal["hf", "vllm"] = "hf"
    """Candidate generation: 'hf' (transformers, CPU or GPU) or 'vllm' (GPU, the `vllm` extra)."""
    vllm_gpu_memory: float = 0.3
    """vllm: fraction of the GPU's memory vLLM may take (the learner shares the GPU)."""
    lora_r: int = 0
    """LoRA rank (the `lora` extra); 0 trains all weights. With LoRA the reference is the base model
    with its adapters disabled: no second copy of the weights."""
    lora_alpha: int = 16
    """LoRA scaling numerator: adapters are scaled by lora_alpha / lora_r."""
    lora_dropout: float = 0.0
    lora_targets: str = "all-linear"
    """Modules that get adapters: 'all-linear' or a comma-separated list of module names (q_proj,v_proj)."""

    extra: dict[str, str] = field(default_factory=dict)
    """Free-form settings for plug-ins (explorers, oracles, losses) not known here."""

    # -----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.run_name or f"{self.preset}-s{self.seed}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def validate(self) -> RunConfig:
        """Refuse impossible settings with a message that names the fix."""
        # NaN fails every `x > 0` check below with a misleading message,
        # and inf passes them, to blow up later as NaN weights or an endless wait.
        for name in FLOAT_FIELDS:
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number (got {getattr(self, name)})")
        checks = [
            (self.beta > 0, f"beta must be > 0 (got {self.beta})"),
            (self.num_candidates >= 2, f"num_candidates must be >= 2 to form a pair (got {self.num_candidates})"),
            (self.batch_size >= 1, f"batch_size must be >= 1 (got {self.batch_size})"),
            (self.budget >= self.batch_size or (self.budget == 0 and self.offline_data),
             f"budget ({self.budget}) must be >= batch_size ({self.batch_size}); raise --budget "
             "(0 only with --offline-data: training on that data alone)"),
            (self.lr > 0, f"lr must be > 0 (got {self.lr})"),
            (self.temperature >= 0, f"temperature must be >= 0 (got {self.temperature})"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1] (got {self.top_p})"),
            (self.oracle_temperature > 0, f"oracle_temperature must be > 0 (got {self.oracle_temperature})"),
            (0 <= self.label_smoothing < 0.5, f"label_smoothing must be in [0, 0.5) (got {self.label_smoothing})"),
            (self.gamma_beta_ratio >= 0, f"gamma_beta_ratio must be >= 0 (got {self.gamma_beta_ratio})"),
            (self.alpha >= 0, f"alpha must be >= 0 (got {self.alpha})"),
            (self.anchor_weight >= 0, f"anchor_weight must be >= 0 (got {self.anchor_weight})"),
            (0 < self.anchor_tau <= 1, f"anchor_tau must be in (0, 1] (got {self.anchor_tau})"),
            (self.micro_batch_size >= 1, f"micro_batch_size must be >= 1 (got {self.micro_batch_size})"),
            (self.max_new_tokens >= 1, f"max_new_tokens must be >= 1 (got {self.max_new_tokens})"),
            (self.eval_every >= 1, f"eval_every must be >= 1 (got {self.eval_every})"),
            (self.num_eval_prompts >= 1, f"num_eval_prompts must be >= 1 (got {self.num_eval_prompts})"),
            (self.sft_steps >= 1, f"sft_steps must be >= 1 (got {self.sft_steps})"),
            (self.offline_epochs >= 1, f"offline_epochs must be >= 1 (got {self.offline_epochs})"),
            (self.rounds >= 1, f"rounds must be >= 1 (got {self.rounds})"),
            (0 <= self.erm_sync < 1, f"erm_sync must be in [0, 1) (got {self.erm_sync})"),
            (self.erm_burn_in >= 0, f"erm_burn_in must be >= 0 (got {self.erm_burn_in})"),
            (self.eval_best_of_n >= 0, f"eval_best_of_n must be >= 0 (got {self.eval_best_of_n})"),
            (self.policy_signal != "reward-model" or self.loss == "reinforce",
             "policy_signal 'reward-model' needs --loss reinforce (Asghari et al.'s update)"),
            (self.validation_prompts >= 0, f"validation_prompts must be >= 0 (got {self.validation_prompts})"),
            (self.validation_prompts == 0 or self.schedule == "iterative",
             "validation_prompts picks the best of several rounds: it needs --schedule iterative"),
            (not self.query_free_batch or self.policy_signal == "reward-model",
             "query_free_batch needs --policy-signal reward-model (its pairs are labelled by the reward model)"),
            (self.schedule != "iterative" or self.budget == 0 or self.budget // self.rounds >= self.batch_size,
             f"each of the {self.rounds} rounds needs at least batch_size={self.batch_size} queries; "
             "raise --budget or lower --rounds"),
            # What acts only between online steps is refused elsewhere rather than silently ignored.
            (self.erm_sync == 0 or self.schedule == "online",
             f"erm_sync labels pairs between online steps: it needs --schedule online (got {self.schedule!r})"),
            (self.erm_sync == 0 or self.policy_signal == "preference",
             "erm_sync labels preference pairs; with --policy-signal reward-model the reward model labels all"),
            (self.policy_signal != "reward-model" or self.schedule == "online",
             "policy_signal 'reward-model' (Asghari et al.'s per-batch update) needs --schedule online "
             f"(got {self.schedule!r})"),
            (self.learn_policy or self.schedule == "online",
             f"learn_policy false (only the reward model learns) needs --schedule online (got {self.schedule!r})"),
            (self.lora_r == 0 or self.round_reference != "last",
             "round_reference 'last' (SELM) copies the policy into the reference, which LoRA's reference "
             "(the adapters switched off) cannot hold; use --lora-r 0"),
            (0 <= self.reference_candidates < self.num_candidates,
             f"reference_candidates must be in [0, num_candidates) (got {self.reference_candidates})"),
            (self.reference_candidates == 0 or (self.runtime == "local" and self.policy_backend == "hf"),
             "reference_candidates samples with the learner's reference network: it needs --runtime local "
             "and --policy-backend hf"),
            (self.explorer != "xpo" or self.reference_candidates >= 1,
             "the xpo explorer pairs a policy sample with a reference sample: set --reference-candidates 1"),
            (self.actors >= 1, f"actors must be >= 1 (got {self.actors})"),
            (self.oracles >= 1, f"oracles must be >= 1 (got {self.oracles})"),
            (self.staleness >= 0, f"staleness must be >= 0 (got {self.staleness})"),
            (self.lora_r >= 0, f"lora_r must be >= 0 (got {self.lora_r})"),
            (0 <= self.lora_dropout < 1, f"lora_dropout must be in [0, 1) (got {self.lora_dropout})"),
            (0 < self.vllm_gpu_memory <= 1, f"vllm_gpu_memory must be in (0, 1] (got {self.vllm_gpu_memory})"),
            # values that would pass here and then fail deep inside
            # torch (AdamW, SeedSequence, set_num_threads, getattr(torch, dtype)) with a traceback
            (0 <= self.seed < 2**63, f"seed must be in [0, 2**63) (got {self.seed})"),
            (self.threads >= 0, f"threads must be >= 0; 0 keeps torch's default (got {self.threads})"),
            (self.num_train_prompts >= 1, f"num_train_prompts must be >= 1 (got {self.num_train_prompts})"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)} (got {self.dtype!r})"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0 (got {self.weight_decay})"),
            (0 <= self.adam_beta1 < 1, f"adam_beta1 must be in [0, 1) (got {self.adam_beta1})"),
            (0 <= self.adam_beta2 < 1, f"adam_beta2 must be in [0, 1) (got {self.adam_beta2})"),
            # clip_grad_norm_ with a negative norm flips the gradient's sign, and 0 zeroes it.
            (self.grad_clip > 0, f"grad_clip must be > 0; a large value turns clipping off (got {self.grad_clip})"),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0 (got {self.warmup_steps})"),
            (self.save_every >= 0, f"save_every must be >= 0; 0 saves at the end only (got {self.save_every})"),
            (self.eval_temperature >= 0, f"eval_temperature must be >= 0 (got {self.eval_temperature})"),
            (self.eval_against != "reference" or bool(self.reference_field),
             "--eval-against reference needs the prompts' reference responses: set --reference-field"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if getattr(self, "runtime", "local") == "local":  # a Ray cluster's GPUs need not be visible here
            check_device(self.device)
        check_out_dir(self.out_dir)
        from sealign.trackers import tracker_names

        tracker_names(self.report_to)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


FIELD_NAMES = {f.name for f in dataclasses.fields(RunConfig)}
FLOAT_FIELDS = [name for name, hint in typing.get_type_hints(RunConfig).items() if hint is float]
DTYPES = ("float32", "bfloat16", "float16", "float64")


def check_device(device: str) -> None:
    """'auto' or a torch device this machine has: a typo or a missing GPU is refused before any model load."""
    if device == "auto":
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"device {device!r} is not a torch device; use auto, cpu, cuda, cuda:N or mps") from err
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA GPU is visible here; use --device cpu (or auto)")
    if parsed.type == "cuda" and (parsed.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} GPU(s)")


def check_out_dir(out_dir: str) -> None:
    """The nearest existing ancestor of ``out_dir`` must be a folder, or making the run folder fails late."""
    path = Path(out_dir).expanduser().absolute()
    for ancestor in [path, *path.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ConfigError(f"out_dir {out_dir!r}: {ancestor} is a file, not a folder; choose another --out-dir")
            return


def apply_overrides(config: RunConfig, overrides: dict, source: str) -> RunConfig:
    """A copy of ``config`` with ``overrides`` applied; unknown keys and wrong types are refused."""
    unknown = sorted({str(key) for key in overrides} - FIELD_NAMES)  # YAML keys may be ints or bools
    if unknown:
        close = [f for f in FIELD_NAMES if any(u.replace("-", "_") == f for u in unknown)]
        hint = f" (did you mean {close[0]!r}? use underscores)" if close else ""
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}{hint}")
    hints = typing.get_type_hints(RunConfig)
    values = {}
    for key, value in overrides.items():
        values[key] = _coerce(key, value, hints[key], source)
    return dataclasses.replace(config, **values)


def _coerce(key: str, value, hint, source: str):
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{source}: {key} must be one of {typing.get_args(hint)} (got {value!r})")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin is dict:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    type_name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{source}: {key} must be {type_name} (got {value!r})")


def load_yaml(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path!r} not found")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path!r} is not UTF-8 text (byte {err.start}); save it as UTF-8") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path!r} is not valid YAML{where}: {getattr(err, 'problem', err)}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path!r} must hold a mapping of settings, not {type(data).__name__}")
    return data

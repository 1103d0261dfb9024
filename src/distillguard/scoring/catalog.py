"""The evidence catalog: every piece of account evidence, in one place.

Each entry names the evidence, the account features it reads (the learned risk model's
inputs are grouped by evidence through ``inputs``), its direction (+1 raises risk, -1 lowers
it, 0 either way, e.g. volume), the prior log-odds weight of the hand-set scorer, and the
words a reviewer reads. ``scoring.model`` derives its monotone constraints and its reasons
from here; ``scoring.policy`` its default weights.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvidenceSpec:
    name: str
    inputs: tuple[tuple[str, int], ...]  # (account feature, direction), ranked in-deployment
    direction: int  # +1 raises risk, -1 lowers it, 0 learned either way
    prior_weight: float  # log-odds at full strength in the hand-set scorer
    label: str  # what a reviewer reads


CATALOG: tuple[EvidenceSpec, ...] = (
    EvidenceSpec(
        "harvest_content",
        (
            ("harvest_share", 1),
            ("mean_harvest", 1),
            ("cot_share", 1),
            ("rubric_share", 1),
            ("synth_share", 1),
            ("format_share", 1),
            ("rewrite_share", 1),
            ("reasoning_share", 1),
        ),
        1,
        3.0,
        "requests carry harvest signals",
    ),
    EvidenceSpec("harvest_variety", (), 1, 1.0, "several kinds of harvest prompt"),
    EvidenceSpec("coordinated_cluster", (("cluster_size", 1),), 1, 4.0, "coordinated cluster"),
    EvidenceSpec(
        "anonymised_ips",
        (("vpn_share", 1), ("tor_share", 1), ("proxy_share", 1)),
        1,
        1.5,
        "VPN, Tor or proxy IPs",
    ),
    EvidenceSpec("datacenter_ips", (("datacenter_share", 1),), 1, 0.7, "data-centre IPs"),
    EvidenceSpec(
        "ip_rotation",
        (("ips_per_request", 1), ("asns_per_request", 1), ("n_prefixes", 0)),
        1,
        1.5,
        "rotating networks",
    ),
    EvidenceSpec(
        "payment_ring",
        (("card_owners", 1), ("card_accounts", 1)),
        1,
        4.0,
        "payment shared with unrelated accounts",
    ),
    EvidenceSpec("weak_verification", (), 1, 1.0, "weak sign-up verification"),
    EvidenceSpec("new_account", (("account_age_days", -1),), 1, 0.7, "new account"),
    EvidenceSpec("strong_verification", (), -1, -1.5, "strong verification"),
    EvidenceSpec("established_account", (), -1, -0.5, "established account"),
    EvidenceSpec(
        "machine_timing",
        (("cv_gaps", -1), ("hod_entropy", 1), ("hod_top_share", -1)),
        1,
        0.5,
        "machine-like timing (regular gaps or round-the-clock hours)",
    ),
    EvidenceSpec("model_pivot", (("pivot_share", 1),), 1, 1.0, "synchronised model pivot"),
    EvidenceSpec(
        "template_concentration",
        (("tpl_top_share", 1), ("templates_per_request", -1), ("cap_top_share", 1)),
        1,
        0.8,
        "prompt-template concentration",
    ),
    EvidenceSpec(
        "attack_template_affinity", (), 1, 15.0, "templates characteristic of an attack cluster"
    ),
    EvidenceSpec(
        "abused_signup_route",
        (("abused_route", 1),),
        1,
        0.0,
        "signed up on an often-abused route (education, research, startup)",
    ),
    EvidenceSpec(
        "task_likeness",
        (
            ("multi_turn_share", -1),
            ("mean_user_turns", -1),
            ("out_in_ratio", 1),
            ("sessions_per_request", 1),
        ),
        1,
        0.0,
        "prompts look like task-set items, not conversation",
    ),
    EvidenceSpec(
        "client_churn",
        (
            ("ip_switch_share", 1),
            ("ua_switch_share", 1),
            ("ip_ua_pairs_per_request", 1),
            ("residential_prefixes_per_request", 1),
        ),
        1,
        0.0,
        "hops between IPs and user agents like a rotating residential proxy pool",
    ),
    EvidenceSpec(
        "lockstep",
        (
            ("lockstep_peers", 1),
            ("lockstep_jaccard", 1),
            ("lockstep_daily_peers", 1),
            ("lockstep_daily_jaccard", 1),
        ),
        1,
        0.0,
        "acts in lockstep with other accounts (same actions in the same time buckets)",
    ),
    EvidenceSpec(
        "shared_parameters",
        (("param_tuple_peers", 0),),
        1,
        0.0,
        "sends the same request settings as other accounts, like one harness",
    ),
    EvidenceSpec(
        "coverage_complementarity",
        (("pool_exclusive_share", 1), ("pool_repeated_share", 0), ("pool_accounts", 1)),
        1,
        0.0,
        "draws its own slice of a task pool shared with other accounts, never an item twice",
    ),
    EvidenceSpec(
        "harvest_circle",
        (("harvest_circle", 1),),
        1,
        0.0,
        "sends harvest prompts on a template only a few unrelated accounts share",
    ),
    EvidenceSpec(
        "signup_burst",
        (("signup_burst_peers", 1), ("signup_window_peers", 1)),
        1,
        0.0,
        "signed up in a burst of accounts through the same sign-up path",
    ),
    EvidenceSpec(
        "activity_profile",
        (("n_requests", 0), ("rate_per_active_hour", 0), ("active_days", 0)),
        0,
        0.0,
        "activity unusual for its cohort",
    ),
)
BY_NAME = {e.name: e for e in CATALOG}
# What a reviewer reads when the evidence LOWERED an account's risk (its inputs on the benign
# side of the deployment's median account): the reasons show both sides of a case.
LOWERED: dict[str, str] = {
    "harvest_content": "fewer harvest signals than most accounts",
    "harvest_variety": "a single kind of prompt",
    "coordinated_cluster": "not in a coordinated cluster",
    "anonymised_ips": "few VPN, Tor or proxy IPs",
    "datacenter_ips": "few data-centre IPs",
    "ip_rotation": "stays on few networks and IPs",
    "payment_ring": "its payment method is its own",
    "weak_verification": "sign-up verification not weak",
    "new_account": "older account than most",
    "strong_verification": "strong sign-up verification",
    "established_account": "established account",
    "machine_timing": "human-like timing (irregular gaps, a daily rhythm)",
    "model_pivot": "no synchronised model pivot",
    "template_concentration": "varied prompts, no dominant template",
    "attack_template_affinity": "no templates of an attack cluster",
    "abused_signup_route": "signed up on a route rarely abused",
    "task_likeness": "conversation, not task-set items (multi-turn, followed up)",
    "client_churn": "keeps its IP and user agent",
    "lockstep": "acts on its own schedule, not in lockstep",
    "shared_parameters": "how many accounts share its usual request settings",
    "coverage_complementarity": "no slice of a task pool shared with other accounts",
    "harvest_circle": "no harvest template shared by a few unrelated accounts",
    "signup_burst": "not part of a sign-up burst",
    "activity_profile": "its activity (volume, rate, active days) for its cohort",
}


def lowered_label(name: str) -> str:
    """The words for evidence that lowered the risk (an entry without its own: derived)."""
    if name in LOWERED:
        return LOWERED[name]
    return f"less of: {BY_NAME[name].label}" if name in BY_NAME else name
HAND_SET = tuple(e.name for e in CATALOG if e.prior_weight != 0.0)
ABUSED_ROUTES = ("education", "research", "startup")


def feature_columns() -> tuple[str, ...]:
    """Every account feature some evidence reads, in catalog order."""
    return tuple(dict.fromkeys(c for e in CATALOG for c, _ in e.inputs))


def direction_of(column: str) -> int:
    """+1 / -1 where more of the feature can only raise / lower risk, else 0."""
    return next(d for e in CATALOG for c, d in e.inputs if c == column)

"""The ``scoring`` policy section: thresholds and evidence weights the user can edit.

Risk is a logistic combination of evidence: ``risk = sigmoid(bias + sum(weight_e * s_e))``
where each evidence strength ``s_e`` is in [0, 1] and each weight is the log-odds the evidence
adds at full strength (negative weights lower the risk). See ``scoring.scorer``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contract import HARVEST_SIGNALS
from ..errors import PolicyError
from ..policy import BOOLEAN, Check, Interval, Options, param, section

ACCOUNT_EVIDENCE: tuple[str, ...] = (
    "harvest_content",  # share of requests with harvest signals (shrunk for small accounts)
    "harvest_variety",  # several kinds of harvest signal at once
    "coordinated_cluster",  # member of a coordinated cluster, scaled by the cluster's risk
    "anonymised_ips",  # VPN / Tor / proxy share
    "datacenter_ips",  # data-centre share
    "ip_rotation",  # a new network (ASN) on most requests: rotating proxies
    "payment_ring",  # a payment method shared with unrelated accounts (other organisations)
    "weak_verification",  # none (1), email (0.5), phone (0.2)
    "new_account",  # first request soon after sign-up
    "strong_verification",  # id / business verification (negative weight)
    "established_account",  # account older than 90 days at first request (negative weight)
    "machine_timing",  # inter-arrival gaps more regular than human traffic
    "model_pivot",  # moved its traffic to the newly released model at once
    "template_concentration",  # most traffic on one template, with harvest content
    "attack_template_affinity",  # share of requests on templates characteristic of attack clusters
)
CLUSTER_EVIDENCE: tuple[str, ...] = (
    "harvest_content",  # mean member harvest strength
    "size",  # ln(n) / ln(size_saturation)
    "weak_verification",
    "new_accounts",
    "anonymised_ips",
    "synchrony",  # share of member edge weight from same-window templates, pivots, payments
    "payment_ring",  # mean member payment-ring strength
    "ip_rotation",  # mean member proxy rotation
)
SIGNALS: tuple[str, ...] = tuple(HARVEST_SIGNALS)


def _weights_check(names: tuple[str, ...]) -> Check:
    return Check(
        lambda v: (
            isinstance(v, dict)
            and set(v) <= set(names)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v.values())
        ),
        f"a mapping from {list(names)} to numbers",
    )


def _unit_weights_check(names: tuple[str, ...]) -> Check:
    return Check(
        lambda v: (
            isinstance(v, dict)
            and set(v) <= set(names)
            and all(isinstance(x, (int, float)) and 0 <= x <= 1 for x in v.values())
        ),
        f"a mapping from {list(names)} to numbers in [0, 1]",
    )


@section("scoring")
@dataclass(frozen=True)
class ScoringPolicy:
    """Thresholds, evidence weights and clustering settings of the batch detector."""

    risk_model: str = param(
        "builtin",
        Check(lambda v: isinstance(v, str) and bool(v), "builtin, none or a model manifest path"),
        "learned account risk model: builtin (shipped, trained on random worlds), none (the "
        "hand-set weights below), or the path of a risk-model.json from `distillguard train`",
    )
    request_model: str = param(
        "builtin",
        Check(lambda v: isinstance(v, str) and bool(v), "builtin, none or a model manifest path"),
        "learned request model marking the harvest requests of suspect accounts: builtin "
        "(shipped, trained on random worlds), none (the hand-set request formula), "
        "or the path of a request-model.json from `distillguard train`",
    )
    review_threshold: float = param(
        0.5, Interval(0, 1), "risk at or above which a verdict is review"
    )
    attack_threshold: float = param(
        0.9, Interval(0, 1), "risk at or above which a verdict is attack"
    )
    request_threshold: float = param(0.5, Interval(0, 1), "request risk marking a harvest request")
    signal_threshold: float = param(
        0.5, Interval(0, 1), "sig_* score at which a request carries a signal"
    )
    account_bias: float = param(-5.0, Interval(-20, 20), "log-odds of an account with no evidence")
    account_weights: dict = param(
        {
            "harvest_content": 3.0,
            "harvest_variety": 1.0,
            "coordinated_cluster": 4.0,
            "anonymised_ips": 1.5,
            "datacenter_ips": 0.7,
            "ip_rotation": 1.5,
            "payment_ring": 4.0,
            "weak_verification": 1.0,
            "new_account": 0.7,
            "strong_verification": -1.5,
            "established_account": -0.5,
            "machine_timing": 0.5,
            "model_pivot": 1.0,
            "template_concentration": 0.8,
            "attack_template_affinity": 15.0,
        },
        _weights_check(ACCOUNT_EVIDENCE),
        "log-odds each account evidence adds at full strength",
    )
    # Most (not all) users: a campaign template is also sent by the campaign's own accounts
    # that the graph could not bind (they are what this evidence is for).
    affinity_min_share: float = param(
        0.5,
        Interval(0.5, 1),
        "share of a template's accounts in attack clusters for it to mark a campaign template",
    )
    affinity_min_accounts: int = param(
        3, Interval(2, None, integer=True), "fewest accounts using a campaign template"
    )
    cluster_bias: float = param(-4.0, Interval(-20, 20), "log-odds of a cluster with no evidence")
    cluster_weights: dict = param(
        {
            "harvest_content": 5.0,
            "size": 1.5,
            "weak_verification": 1.0,
            "new_accounts": 1.0,
            "anonymised_ips": 1.0,
            "synchrony": 1.0,
            "payment_ring": 2.0,
            "ip_rotation": 1.0,
        },
        _weights_check(CLUSTER_EVIDENCE),
        "log-odds each cluster evidence adds at full strength",
    )
    signal_weights: dict = param(
        {"cot": 1.0, "rubric": 1.0, "synth": 0.8, "format": 0.5, "rewrite": 1.0},
        _unit_weights_check(SIGNALS),
        "how much each text signal counts as harvest content (0..1)",
    )
    coordination_saturation: float = param(
        0.5, Interval(0.01, None), "in-cluster edge weight at which cluster evidence counts fully"
    )
    size_saturation: int = param(
        20, Interval(2, None, integer=True), "cluster size at which size evidence is full"
    )
    min_cluster_size: int = param(
        3, Interval(2, None, integer=True), "fewest accounts in a coordinated cluster"
    )
    leiden_objective: str = param("modularity", Options(("modularity", "CPM")), "Leiden objective")
    leiden_resolution: float = param(1.0, Interval(0, None), "Leiden resolution")
    seed: int = param(0, Interval(0, None, integer=True), "random seed of the clustering")
    min_attachment: float = param(
        0.5, Interval(0, 1), "share of an account's edge weight inside its cluster"
    )
    min_strength: float = param(0.3, Interval(0, None), "in-cluster edge weight an account needs")
    core_min: int = param(
        3,
        Interval(2, None, integer=True),
        "most accounts a key needs to bind members, however big the cluster",
    )
    leiden_iterations: int = param(4, Interval(1, 100, integer=True), "Leiden iterations")
    core_share: float = param(
        0.2,
        Interval(0, 1),
        "share of a cluster's accounts that must use a key for it to bind members",
    )
    edge_weights: dict = param(
        {
            "ip": 1.0,
            "prefix24_ua": 0.6,
            "asn_ua": 0.15,
            "payment": 1.5,
            "template": 1.0,
            "system_prompt": 0.4,
            "template_window": 1.0,
            "pivot": 0.8,
        },
        Check(
            lambda v: (
                isinstance(v, dict)
                and set(v)
                <= {
                    "ip",
                    "prefix24_ua",
                    "asn_ua",
                    "payment",
                    "template",
                    "system_prompt",
                    "template_window",
                    "pivot",
                    "shared_intel",
                }
                and all(isinstance(x, (int, float)) and x >= 0 for x in v.values())
            ),
            "a mapping from edge kinds to non-negative numbers",
        ),
        "weight of each kind of shared key",
    )
    sender_link_kinds: list = param(
        ["payment", "ip", "prefix24_ua", "asn_ua"],
        Check(
            lambda v: isinstance(v, list)
            and set(v) <= {"payment", "ip", "prefix24_ua", "asn_ua"},
            "a list of sender key kinds (payment, ip, prefix24_ua, asn_ua)",
        ),
        "keys that name a sender (card, address, network with client): a member at review of "
        "an attack cluster that shares one with fellow members is attack too; [] turns it off. "
        "Wording keys (template, system prompt) never count",
    )
    circle_links: bool = param(
        True,
        BOOLEAN,
        "an account at review that sends harvest requests on private wordings shared with "
        "flagged accounts of its harvest circle, one of them at attack, is attack too "
        "(coordination/circle_link.py)",
    )
    shared_intel_cap: float = param(
        0.75,
        Interval(0, 1),
        "highest risk a partner's shared indicators can lift an account to (below "
        "attack_threshold: shared intel alone never makes an attack verdict)",
    )
    fraudar_c: float = param(
        5.0, Interval(1.01, None), "c in FRAUDAR's 1/ln(deg + c) key weighting"
    )
    window_minutes: float = param(
        60.0, Interval(1, None), "SynchroTrap window for same-template activity"
    )
    pivot_window_hours: float = param(
        24.0, Interval(0.1, None), "window after a model release for pivots"
    )
    pivot_min_delay_days: float = param(
        1.0, Interval(0, None), "a model first seen this long after the start is new"
    )
    ip_range_files: list = param(
        [],
        Check(
            lambda v: isinstance(v, list) and all(isinstance(x, str) and "=" in x for x in v),
            "a list of 'kind=path' strings",
        ),
        "extra CIDR lists (kind=path; kind in datacenter, vpn, tor, proxy)",
    )
    use_corpora_ip_lists: bool = param(
        True,
        BOOLEAN,
        "also use the public data-centre/VPN lists in the corpora folder",
    )
    max_reasons: int = param(3, Interval(1, 10, integer=True), "evidence summaries in reasons")
    max_refs: int = param(
        20, Interval(1, 1000, integer=True), "request/account ids kept per evidence row"
    )

    def validate(self) -> None:
        if self.review_threshold > self.attack_threshold:
            raise PolicyError(
                "Policy.scoring.review_threshold must not exceed attack_threshold; got "
                f"{self.review_threshold} > {self.attack_threshold}"
            )
        if self.shared_intel_cap >= self.attack_threshold:
            raise PolicyError(
                "Policy.scoring.shared_intel_cap must be below attack_threshold (shared intel "
                f"alone never makes an attack); got {self.shared_intel_cap} >= {self.attack_threshold}"
            )

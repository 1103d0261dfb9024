"""The hand-written world (tests/scoring/labelled_traffic.py): per seed, each campaign account
at `review` on its own evidence, and whether a circle link raised it to `attack`, or it was the
first user of every circle wording it harvests on (a wording does not link its first user,
coordination/circle_link.py), with how many hours after it the wording's next user came.

    PYTHONPATH=src python scripts/handwritten_circle_links.py builtin --seeds 0 1 2 3 4 5 6 7 --reasoning-users
"""

from __future__ import annotations

from collections import defaultdict

import _handwritten  # also puts the hand-written world (tests/scoring) on the path

HOUR_MS = 3_600_000


def circle_use(engine) -> tuple[dict[str, set], dict[str, set], dict[str, float]]:  # noqa: ANN001
    """Per account: the circle wordings it harvests on, those of them it used first, and
    the hours from its first use of those to the next account's (its lead)."""
    from distillguard.coordination.circle_link import CIRCLE_LINK_ROWS

    rows = engine.fetch_arrow(f"SELECT * FROM ({CIRCLE_LINK_ROWS}) ORDER BY first_ts").to_pylist()
    harvests: dict[str, set] = defaultdict(set)
    users: dict[str, list] = defaultdict(list)  # wording → (first use, account), in order
    for r in rows:
        users[r["template"]].append((r["first_ts"], r["account_id"]))
        if r["n_harvest"] > 0:
            harvests[r["account_id"]].add(r["template"])
    firsts: dict[str, set] = defaultdict(set)
    leads: dict[str, float] = {}
    for t, u in users.items():
        a = u[0][1]
        if t in harvests[a]:
            firsts[a].add(t)
            lead = (u[1][0] - u[0][0]) / HOUR_MS if len(u) > 1 else float("inf")
            leads[a] = min(leads.get(a, lead), lead)
    return harvests, firsts, leads


def summary(model: str, seed: int, reasoning_users: bool = False) -> str:
    import labelled_traffic as lt

    from distillguard.policy import Policy
    from distillguard.scoring.model import align, resolve

    traffic, engine, _ = lt.analyzed(seed, risk_model=model, reasoning_users=reasoning_users)
    inputs = engine.fetch_arrow("SELECT * FROM model_inputs")
    m = resolve(model)
    own = dict(
        zip(
            inputs.column("account_id").to_pylist(),
            m.predict_risk(align(inputs, m.names_)),
            strict=True,
        )
    )
    final = {
        r["account_id"]: r["verdict"]
        for r in engine.fetch_arrow("SELECT account_id, verdict FROM out_accounts").to_pylist()
    }
    harvests, firsts, leads = circle_use(engine)
    camp = {r["account_id"]: r["campaign_id"] for r in traffic.labels if r["campaign_id"]}
    pol = Policy.from_dict({}).scoring  # the default lines lt.analyzed scores with
    review, attack = pol.review_threshold, pol.attack_threshold
    parts = []
    for c in sorted(set(camp.values())):
        at_review = sorted(a for a, k in camp.items() if k == c and review <= own[a] < attack)
        raised = [a for a in at_review if final[a] == "attack"]
        held = [
            a
            for a in at_review
            if final[a] != "attack" and harvests.get(a) and firsts.get(a) == harvests[a]
        ]
        held_s = ",".join(f"{a}(own {own[a]:.3f}, next user +{leads[a]:.1f} h)" for a in held)
        parts.append(
            f"{c} at review {len(at_review)} raised {len(raised)} "
            f"held as first user {len(held)}{' ' + held_s if held else ''}"
        )
    return f"{model} seed {seed}: " + "; ".join(parts)


if __name__ == "__main__":
    _handwritten.run(__doc__, summary, "builtin or a risk-model.json")

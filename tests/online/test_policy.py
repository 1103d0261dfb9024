"""The online policy section: validation before loading, and hot reload that keeps a good policy."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from distillguard.errors import PolicyError
from distillguard.online.policy import DEFAULT_RULES, PolicyHolder, compile_rules
from distillguard.policy import Policy, PolicyDeprecationWarning


def test_defaults_load_and_compile() -> None:
    pol = Policy.load(None)
    rules = compile_rules(pol.online)
    assert len(rules) == len(DEFAULT_RULES)
    assert rules[0].action == "block"  # most severe first
    assert pol.online.fail_mode == "open"
    assert pol.online.shadow  # the shipped default records, and enforces nothing


def test_a_first_start_with_defaults_enforces_nothing(store_dir: Path, record) -> None:
    from distillguard.online.scorer import OnlineScorer

    s = OnlineScorer(store_dir)  # no policy file: the shipped defaults
    d = s.score(record(0, account="hydra-1"))  # a member of a known attack cluster
    assert d.action == "allow" and d.shadow and d.would_action == "block"
    assert s.actions.active() == []  # no week-long block persisted
    s.close()


def test_policy_init_writes_shadow_unless_enforce(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from distillguard.cli import app

    runner = CliRunner()
    shadow, enforce = tmp_path / "shadow.yaml", tmp_path / "enforce.yaml"
    r = runner.invoke(app, ["policy", "init", str(shadow)])
    assert r.exit_code == 0 and "SHADOW" in r.output
    assert Policy.load(shadow).online.shadow
    r = runner.invoke(app, ["policy", "init", str(enforce), "--enforce"])
    assert r.exit_code == 0 and "ENFORCING" in r.output
    assert not Policy.load(enforce).online.shadow
    assert Policy.load(enforce).online.rules == Policy.load(None).online.rules
    again = runner.invoke(app, ["policy", "init", str(enforce)])
    assert again.exit_code != 0 and "--force" in str(again.exception)


RULE = {"name": "r", "when": {"online_risk": {">=": 0.5}}, "action": "block", "scope": "account"}


@pytest.mark.parametrize(
    ("online", "message"),
    [
        ({"fail_mode": "sideways"}, "fail_mode must be one of 'open', 'closed'"),
        ({"timeout_ms": 0}, "timeout_ms must be a float in [1, 60000]"),
        ({"shadow": "yes"}, "shadow must be true or false"),
        ({"window_s": 3600, "bucket_s": 7}, "must be a multiple of bucket_s"),
        ({"risk_every": 0}, "risk_every must be"),
        ({"nonsense": 1}, "unknown key(s) ['nonsense']"),
        ({"rules": [{**RULE, "action": "nuke"}]}, "action must be one of"),
        ({"rules": [{**RULE, "scope": "planet"}]}, "scope must be one of"),
        ({"rules": [{**RULE, "when": {"moon_phase": 1}}]}, "unknown feature 'moon_phase'"),
        ({"rules": [{**RULE, "when": {"online_risk": {"~=": 1}}}]}, "unknown operator '~='"),
        ({"rules": [{**RULE, "when": {"online_risk": "high"}}]}, "online_risk is a number"),
        ({"rules": [{**RULE, "when": {"verdict": {">=": 1}}}]}, "verdict is a string"),
        ({"rules": [{**RULE, "action": "rate_limit"}]}, "rate_limit needs rate_per_s > 0"),
        (
            {
                "rules": [
                    {
                        **RULE,
                        "action": "rate_limit",
                        "rate_per_s": 1,
                        "burst": 5,
                        "scope": "request",
                    }
                ]
            },
            "rate_limit needs scope account or cluster",
        ),
        ({"rules": [{**RULE, "burst": 3}]}, "only apply to action rate_limit"),
        ({"rules": [{**RULE, "expires_s": -5}]}, "expires_s must be a positive number"),
        ({"rules": [RULE, RULE]}, "duplicate rule name 'r'"),
        ({"rules": [{**RULE, "colour": "red"}]}, "unknown key(s) ['colour']"),
        (
            {"rules": [{k: v for k, v in RULE.items() if k != "when"}]},
            "when must be a non-empty mapping",
        ),
    ],
)
def test_bad_policies_are_refused_with_a_clear_message(online: dict, message: str) -> None:
    with pytest.raises(PolicyError) as exc:
        Policy.from_dict({"online": online})
    assert message in str(exc.value)


def test_suspend_alias_and_list_operators_compile() -> None:
    pol = Policy.from_dict(
        {
            "online": {
                "rules": [
                    {
                        "name": "a",
                        "when": {"verdict": {"in": ["attack", "review"]}, "batch_risk": {">": 0.5}},
                        "action": "suspend",
                        "scope": "cluster",
                    }
                ]
            }
        }
    )
    (rule,) = compile_rules(pol.online)
    assert rule.action == "block"
    assert rule.matches({"verdict": "review", "batch_risk": 0.6})
    assert not rule.matches({"verdict": "benign", "batch_risk": 0.9})
    assert not rule.matches({"verdict": "review"})  # a missing feature never matches


def test_hot_reload_keeps_the_good_policy(write_policy: Callable[[dict], Path]) -> None:
    path = write_policy({"shadow": True, "rules": [RULE]})
    holder = PolicyHolder(path)
    good = holder.version
    assert holder.online.shadow and [r.name for r in holder.rules] == ["r"]

    assert holder.maybe_reload() is None  # unchanged file: nothing to do

    path.write_text("online: {rules: [{name: x, when: {online_risk: high}, action: block}]}\n")
    os.utime(path, (os.path.getatime(path), os.path.getmtime(path) + 5))
    ok, msg = holder.maybe_reload()
    assert not ok and "keeping version " + good in msg and "online_risk is a number" in msg
    assert holder.version == good and holder.failed_reloads == 1 and holder.last_error

    path.write_text(":\n  - not yaml: [")
    ok, msg = holder.reload()
    assert not ok and "not valid YAML" in msg and holder.version == good

    new = {"online": {"shadow": False, "rules": [{**RULE, "action": "challenge"}]}}
    import yaml

    path.write_text(yaml.safe_dump(new))
    ok, msg = holder.reload()
    assert ok and holder.version != good and holder.rules[0].action == "challenge"
    assert not holder.online.shadow and holder.last_error is None


def test_first_load_of_a_bad_file_fails(write_policy: Callable[[dict], Path]) -> None:
    path = write_policy({"fail_mode": "maybe"})
    with pytest.raises(PolicyError, match="fail_mode"):
        PolicyHolder(path)


def test_old_noisy_or_settings_load_with_one_deprecation_warning(
    write_policy: Callable[[dict], Path],
) -> None:
    path = write_policy(
        {"weights": {"signals": 0.8, "volume": 0.15}, "volume_ref": 600, "min_requests": 5}
    )
    with pytest.warns(PolicyDeprecationWarning) as caught:
        holder = PolicyHolder(path)
    assert len(caught) == 1
    text = str(caught[0].message)
    for key in ("weights", "volume_ref", "min_requests"):
        assert f"Policy.online.{key}" in text
    assert "scoring.risk_model" in text
    assert not hasattr(holder.online, "weights")
    # The same file without them is the same policy: they are ignored, not half-applied.
    assert holder.version == PolicyHolder(write_policy({}, "plain.yaml")).version

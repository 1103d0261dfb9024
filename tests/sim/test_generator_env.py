"""``DISTILLGUARD_GENERATOR`` draws one run's random worlds with another generator than the
default, and names and marks them so, without editing the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.bench.transfer import is_done, mark_done, world_name
from distillguard.errors import ScenarioError
from distillguard.sim.scenario import GROUP_PERSONAS
from distillguard.sim.world import (
    GENERATOR_ENV,
    GENERATOR_VERSION,
    LATEST_GENERATOR,
    draw_scenario,
    generator_version,
)


def _personas(sc) -> set[str]:
    return set(sc.hard_benign)  # persona → its settings


def test_unset_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GENERATOR_ENV, raising=False)
    assert generator_version() == GENERATOR_VERSION
    assert world_name("small", 3) == f"small-w3-g{GENERATOR_VERSION}"


def test_the_variable_names_marks_and_draws_the_world(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(GENERATOR_ENV, str(LATEST_GENERATOR))
    assert world_name("tiny", 3) == f"tiny-w3-g{LATEST_GENERATOR}"
    world = tmp_path / world_name("tiny", 3)
    world.mkdir()
    mark_done(world)
    assert is_done(world)
    drawn = draw_scenario("tiny", 3)
    assert drawn == draw_scenario("tiny", 3, generator=LATEST_GENERATOR)
    assert set(GROUP_PERSONAS) & _personas(drawn)
    assert not set(GROUP_PERSONAS) & _personas(draw_scenario("tiny", 3, generator=2))
    # the same folder is not this generator's world once the run is back on the default
    monkeypatch.delenv(GENERATOR_ENV)
    assert is_done(world) == (GENERATOR_VERSION == LATEST_GENERATOR)


@pytest.mark.parametrize("raw", ["1", "9", "three", "-2"])
def test_a_bad_value_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(GENERATOR_ENV, raw)
    with pytest.raises(ScenarioError, match=GENERATOR_ENV):
        generator_version()

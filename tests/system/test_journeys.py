"""Every persona's first minutes, as a newcomer lives them, on the demo's own generated county:
`justlink demo --no-serve` prints the sign-ins and per-role open cases, then `justlink serve` runs as a
real process and each persona — mediator, judge, police officer, correction officer, legal-aid officer,
civil-affairs registrar, DPO — signs in, opens a case, finds a party, reads the timeline and the alerts.
The same journeys run through the CLI with the server up and with it down. One demo county for the
module: the journeys share it, as the people of one county would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consent.access.users import DEMO_USERS
from tests.support.journeys import Demo, justlink, run_demo

PERSONAS = ("mediator.demo", "judge.demo", "police.demo", "correction.demo", "legalaid.demo", "registrar.demo")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    yield run_demo(tmp_path_factory.mktemp("newcomer"))


def test_the_demo_prints_a_sign_in_for_every_demo_user(demo: Demo) -> None:
    assert set(demo.personas) == {user for user, *_ in DEMO_USERS}
    for user, role, _, _ in DEMO_USERS:
        assert demo.personas[user].role == role and demo.personas[user].token.startswith("jl_")


@pytest.mark.parametrize("user", PERSONAS)
def test_each_role_gets_open_cases_of_the_county_with_a_party_to_look_up(demo: Demo, user: str) -> None:
    persona = demo.personas[user]
    assert persona.cases, f"the demo offers {user} no open case:\n{demo.output[-3000:]}"
    assert len(persona.cases) <= 3
    for case in persona.cases:
        assert case.lookup and case.name


def test_demo_users_belong_to_the_countys_offices(demo: Demo) -> None:
    assert demo.personas["correction.demo"].organisation == "justice:城关司法所"
    assert demo.personas["correction.demo"].cases[0].kind == "correction"   # that office's supervisee first
    assert demo.personas["police.demo"].organisation.endswith("派出所")
    assert any(c.case_id.startswith("（") and "调字第" in c.case_id for c in demo.personas["mediator.demo"].cases)


def test_views_status_counts_what_the_demo_built(demo: Demo) -> None:
    status = justlink(demo, "views", "status")
    assert status.returncode == 0, status.stderr
    counts = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in status.stdout.splitlines()[:4]}
    assert counts["persons"] > 500 and counts["disputes"] > 100 and counts["cases"] > 100 and counts["alerts"] > 0


def test_a_rerun_with_no_new_data_gives_the_same_summary(demo: Demo) -> None:
    again = justlink(demo, "demo", "--no-serve", timeout=600)
    assert again.returncode == 0, again.stderr

    def summary(output: str) -> list[str]:
        return [line for line in output.splitlines() if line.startswith(("Alerts:", "  of which raised by the clock",
                                                                          "Persons resolved", "Disputes threaded"))]

    assert summary(again.stdout) == summary(demo.output) and summary(demo.output)
    assert " -> 0 decisions" in again.stdout, again.stdout[:1500]   # nothing new to decide


def test_version() -> None:
    import subprocess

    from tests.support.journeys import JUSTLINK

    done = subprocess.run([JUSTLINK, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("justlink, version ")

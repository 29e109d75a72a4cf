"""CODEOWNERS: what can change production, or the way changes reach it, needs the platform team."""

from __future__ import annotations

from tests.conftest import REPO_ROOT

CODEOWNERS = REPO_ROOT / ".github" / "CODEOWNERS"
PLATFORM_TEAM = "@example-org/platform-team"


def owners() -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    for line in CODEOWNERS.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *names = line.split()
            rules[pattern] = names
    return rules


def test_prod_terraform_and_the_workflows_need_the_platform_team() -> None:
    rules = owners()
    for pattern in ("/clusters/prod/", "/terraform/", "/.github/"):
        assert PLATFORM_TEAM in rules.get(pattern, []), pattern


def test_every_owner_is_a_team_and_every_pattern_exists() -> None:
    for pattern, names in owners().items():
        assert names and all(n.startswith("@") and "/" in n for n in names), pattern
        assert (REPO_ROOT / pattern.strip("/")).exists(), pattern

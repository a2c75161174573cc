"""requirements.lock, which `make install` installs with --require-hashes, agrees with pyproject.toml: a dependency
added or narrowed there without `make lock` fails here rather than on a fresh clone."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests import processes

ROOT = processes.ROOT
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def _locked() -> dict[str, str]:
    pins = {}
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    for number, line in enumerate(lines):
        match = _PIN.match(line)
        if match:
            assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{line} has no hash"
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def test_every_dependency_of_pyproject_is_pinned_in_the_lock_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locked = _locked()
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements.lock pins {name}=={locked[name]}, outside {requirement.specifier}: run make lock"
        )

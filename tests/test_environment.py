"""The three places that name dependencies agree: pyproject.toml, constraints.txt, environment.yml.

pyproject.toml says what the code needs (ranges), constraints.txt pins what `make` installs and
CI tests, and environment.yml is the conda route to the same environment.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent


def normalize(name: str) -> str:
    """PEP 503 name: `Sphinx`, `sphinx_exercise` and `sphinx-exercise` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def requirements(extra: str | None = None) -> list[Requirement]:
    project = pyproject()
    lines = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def all_requirements() -> list[Requirement]:
    extras = pyproject()["optional-dependencies"]
    return requirements() + [r for extra in extras for r in requirements(extra)]


def constraints() -> dict[str, str]:
    """{normalized name: pinned version} from constraints.txt."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[normalize(name)] = version
    return pins


def conda_env() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def conda_pip_lines() -> list[str]:
    (pip_section,) = [d["pip"] for d in conda_env()["dependencies"] if isinstance(d, dict)]
    return [str(line).strip() for line in pip_section]


def editable_extras() -> set[str]:
    """Extras installed by the `-e .[a,b]` line of environment.yml."""
    (line,) = [line for line in conda_pip_lines() if line.startswith("-e")]
    match = re.fullmatch(r"-e\s+\.(?:\[([\w,\s-]+)\])?", line)
    assert match, f"unexpected editable line in environment.yml: {line!r}"
    return {normalize(e) for e in (match.group(1) or "").split(",") if e.strip()}


def test_every_constraint_is_an_exact_pin():
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", line), line
    assert "companion" not in constraints(), "the package itself must not be pinned"


def test_every_dependency_is_pinned_within_its_range():
    pins = constraints()
    for req in all_requirements():
        name = normalize(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject's {req}")


def test_torch_is_pinned_without_a_local_label():
    # `torch==2.13.0` matches the local CPU wheel `2.13.0+cpu`; an unpinned torch would pull
    # the multi-gigabyte CUDA build instead.
    assert "+" not in constraints()["torch"]


def test_conda_env_installs_every_dependency():
    extras = editable_extras()
    listed = {normalize(Requirement(line).name) for line in conda_pip_lines()
              if not line.startswith("-")}
    covered = listed | {normalize(r.name) for r in requirements()}  # `-e .` brings the core
    for extra in pyproject()["optional-dependencies"]:
        if normalize(extra) in extras:
            covered |= {normalize(r.name) for r in requirements(extra)}
    missing = {normalize(req.name) for req in all_requirements()} - covered
    assert not missing, f"environment.yml installs neither these nor their extra: {missing}"


def test_conda_env_uses_the_constraints_file():
    assert "-c constraints.txt" in conda_pip_lines()


def test_conda_pins_equal_constraints():
    pins = constraints()
    for line in conda_pip_lines():
        if line.startswith("-"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"environment.yml should pin exactly: {line}"
        assert pins.get(normalize(req.name)) == spec.version, (
            f"environment.yml pins {line}, constraints.txt has {pins.get(normalize(req.name))}")


def test_conda_python_satisfies_requires_python():
    (python,) = [d for d in conda_env()["dependencies"]
                 if isinstance(d, str) and d.startswith("python=")]
    version = python.split("=", 1)[1]
    assert SpecifierSet(pyproject()["requires-python"]).contains(version)


def test_requires_python_matches_what_make_accepts():
    """`make` picks a Python 3.11-3.13 (Makefile, PYTHON_CHECK); pyproject's requires-python
    starts at the same minor version (numpy 2.4 and tomllib need 3.11)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    low, high = map(int, re.search(r"not \(3, (\d+)\) <= sys.version_info\[:2\] <= \(3, (\d+)\)", makefile).groups())
    requires = SpecifierSet(pyproject()["requires-python"])
    assert requires.contains(f"3.{low}.0") and not requires.contains(f"3.{low - 1}.99")
    assert all(requires.contains(f"3.{minor}.0") for minor in range(low, high + 1))

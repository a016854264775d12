"""Which environment era a pyhf commit runs in, and why, read from the commit itself.

``git describe`` is not enough on pyhf's real history: pyhf tags its releases on
a release branch that main never merges, so every main commit from 2023 to 2026
describes as ``0.7.1.devN`` and would be benchmarked on a 2023 stack.  So:

* a **release commit** (a release tag points at it) is placed by its version,
  as ``eras.json``'s ranges say;
* **any other commit** is placed by its date: the era of the newest release
  tagged at or before its committer date (on any branch) — the stack pyhf was
  developed against at the time;
* then the commit's **declared requirements** (``pyproject.toml``, else
  ``setup.cfg``: the core dependencies and the backend extras) are checked
  against that era's pins.  If they conflict, the nearest era whose pins satisfy
  them takes the commit; if none does, it is left out with the conflict named.

:func:`guard` is the safety net inside the environment: asv runs it after
installing each commit (``asv.conf.json``'s ``install_command``), and if the
install changed a pinned package it restores the era's pins and fails that
install, so later commits never run on a silently changed stack.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata

from pyhf_bench import UserError
from pyhf_bench.core import support

#: The extras of pyhf that the benchmarks install (the backends and minuit).
BACKEND_EXTRAS = ("jax", "torch", "tensorflow", "minuit", "backends")


@dataclass(frozen=True)
class Placement:
    commit: str
    version: str | None
    era: str | None  # None: left out
    why: str


def git(repo, *args: str) -> str:
    """``git -C repo ARGS``'s output; a failure is one UserError line with git's last word."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise UserError(f"git {' '.join(args)} failed in {repo}: {last}")
    return proc.stdout.strip()


def release_tags(repo) -> list[str]:
    """The release tags ``vX.Y.Z`` of *repo* on any branch, oldest version first (pre-releases left out)."""
    tags = [t for t in git(repo, "tag", "--list", "v[0-9]*").split() if re.fullmatch(r"v\d+(\.\d+)*", t)]
    return sorted(tags, key=lambda t: support.version_tuple(t[1:]))


def _release_dates(repo) -> list[tuple[str, str, int]]:
    """``[(version, commit, committer time)]`` of the release tags."""
    out = []
    for tag in release_tags(repo):
        commit = git(repo, "rev-list", "-n", "1", f"refs/tags/{tag}")
        out.append((tag[1:], commit, int(git(repo, "show", "-s", "--format=%ct", commit))))
    return out


def declared_requirements(repo, commit: str) -> tuple[list[str], str]:
    """``(requirement strings, file)``: what *commit* declares for its core and backend extras."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: no toml reader in the standard library
        tomllib = None
    text = _show(repo, commit, "pyproject.toml")
    if text is not None and tomllib is not None:
        project = tomllib.loads(text).get("project", {})
        if project.get("dependencies") is not None:
            reqs = list(project.get("dependencies", []))
            extras = project.get("optional-dependencies", {})
            for extra in BACKEND_EXTRAS:
                reqs += [f"{r}" for r in extras.get(extra, []) if not r.startswith("pyhf[")]
            return reqs, "pyproject.toml"
    text = _show(repo, commit, "setup.cfg")
    if text is not None:
        parser = configparser.ConfigParser()
        parser.read_string(text)
        raw = parser.get("options", "install_requires", fallback="")
        reqs = [line.split("#")[0].strip() for line in raw.splitlines()]
        return [r for r in reqs if r], "setup.cfg"
    return [], "no pyproject.toml or setup.cfg"


def _show(repo, commit: str, path: str) -> str | None:
    proc = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def conflicts(requirements: list[str], pins: dict[str, str]) -> list[str]:
    """The requirements that the pinned versions do not satisfy, each as ``'scipy<1.16 (era: 1.17.1)'``."""
    # packaging: optional (the dev extra); the guard runs in era environments that may lack it.
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pinned = {canonicalize_name(name): version for name, version in pins.items()}
    environment = {"python_version": "3.11", "python_full_version": "3.11.0", "platform_machine": "x86_64",
                   "platform_system": "Linux", "sys_platform": "linux", "extra": ""}
    found = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is not None and not any(req.marker.evaluate(dict(environment, extra=e))
                                              for e in ("",) + BACKEND_EXTRAS):
            continue
        version = pinned.get(canonicalize_name(req.name))
        if version is not None and req.specifier and not req.specifier.contains(version, prereleases=True):
            found.append(f"{req.name}{req.specifier} (era: {version})")
    return found


def place(repo, commit: str, version: str | None, releases: list[tuple[str, str, int]]) -> Placement:
    """Where *commit* runs, and why (see the module docstring)."""
    eras = support.eras()
    tagged = {c: v for v, c, _ in releases}
    if commit in tagged:
        era = support.era_for_version(tagged[commit])
        why = f"release v{tagged[commit]}"
    else:
        when = int(git(repo, "show", "-s", "--format=%ct", commit))
        before = [row for row in releases if row[2] <= when]
        if not before:
            return Placement(commit, version, None, f"dated {_day(when)}, before every release tag: in no era")
        newest = max(before, key=lambda row: support.version_tuple(row[0]))
        era = support.era_for_version(newest[0])
        why = f"dated {_day(when)}, after v{newest[0]} ({_day(newest[2])})"
    if era is None:
        return Placement(commit, version, None, f"{why}: in no era of eras.json")
    reqs, source = declared_requirements(repo, commit)
    clash = conflicts(reqs, eras[era]["pins"])
    if not clash:
        return Placement(commit, version, era, why)
    names = list(eras)
    start = names.index(era)
    # The nearest era first, older before newer at the same distance.
    for other in sorted(names, key=lambda n: (abs(names.index(n) - start), -names.index(n))):
        if other != era and not conflicts(reqs, eras[other]["pins"]):
            return Placement(commit, version, other, f"{why}; its {source} conflicts with {era} "
                             f"({', '.join(clash)}), {other}'s pins satisfy it")
    return Placement(commit, version, None, f"{why}; its {source} conflicts with every era "
                     f"({era}: {', '.join(clash)}): left out")


def _day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def place_all(repo, commits: list[str], version_of) -> list[Placement]:
    releases = _release_dates(repo)
    return [place(repo, commit, version_of(repo, commit), releases) for commit in commits]


# --------------------------------------------------------------------------- inside the environment


def era_of_environment(env_name: str) -> str | None:
    """The era of an asv environment name (``…-PYHF_BENCH_ERA<name>``, from the include entry's env_nobuild)."""
    match = re.search(rf"{support.ERA_ENV}(\w+)$", env_name)
    return match.group(1) if match else None


def changed_pins(era: str) -> dict[str, tuple[str, str]]:
    """``{package: (installed version, pinned version)}`` for every installed pin this environment no longer holds.

    A pinned package that is not installed is left alone: installing a pyhf wheel
    only ever adds, upgrades or downgrades, and a test's smaller matrix omits some.
    """
    changed = {}
    for name, pinned in support.eras()[era]["pins"].items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if not same_version(installed, pinned):
            changed[name] = (installed, pinned)
    return changed


def same_version(installed: str, pinned: str) -> bool:
    """Whether *installed* is the pinned version; a local label does not count (torch's ``2.13.0+cpu`` is 2.13.0)."""
    return installed.split("+", 1)[0] == pinned.split("+", 1)[0]


def guard(env_name: str) -> int:
    """After asv installed a commit: 0 if the era's pins hold; else restore them, say what changed, and return 1."""
    era = era_of_environment(env_name)
    if era is None or era not in support.eras():
        return 0  # not one of the suite's era environments (e.g. a test's own matrix)
    changed = changed_pins(era)
    if not changed:
        return 0
    what = ", ".join(f"{name} {pinned} -> {now}" for name, (now, pinned) in changed.items())
    print(f"pyhf-bench era-guard: installing this commit changed the {era} era's pins ({what}); "
          "restoring them and failing this install: the commit's requirements conflict with the era",
          file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps",
                    *[f"{name}=={pinned}" for name, (_, pinned) in changed.items()]], check=False)
    return 1


def main(argv: list[str] | None = None) -> int:
    """``python -m pyhf_bench.asvtools.eraplan guard``: what asv's install_command runs inside an era environment."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["guard"]:
        return guard(os.environ.get("ASV_ENV_NAME", ""))
    print("usage: python -m pyhf_bench.asvtools.eraplan guard", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The asv machine: registered once, without a terminal, before any asv command that needs it.

asv files results under a machine name and asks for the machine's details in a
terminal the first time; outside one (CI, a script, ``< /dev/null``) every
``asv run`` stops with "No information stored about machine".  The commands
that run asv call :func:`ensure_machine` first.
"""

from __future__ import annotations

import subprocess
import sys

from pyhf_bench import UserError


def machine_name(asv_args: list[str]) -> str | None:
    """The ``--machine NAME`` among *asv_args*, else None (asv then uses the host name)."""
    for i, arg in enumerate(asv_args):
        if arg == "--machine" and i + 1 < len(asv_args):
            return asv_args[i + 1]
        if arg.startswith("--machine="):
            return arg.split("=", 1)[1]
    return None


def ensure_machine(name: str | None) -> tuple[str, bool]:
    """``(machine name, newly registered)``: register the machine with ``asv machine --yes`` if asv does not know it.

    Without an entry in ``~/.asv-machine.json`` asv asks for the machine's details
    in a terminal, and outside one every ``asv run`` stops with "No information
    stored about machine".  ``--yes`` takes asv's own detected defaults.
    """
    from asv import util  # asv: optional (the dev extra) and ~1 s to import
    from asv.machine import Machine, MachineCollection

    wanted = name or Machine.get_unique_machine_name()
    try:
        MachineCollection.load(wanted)
        return wanted, False
    except util.UserError:
        pass
    cmd = [sys.executable, "-m", "asv", "machine", "--yes"] + (["--machine", name] if name else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = ((proc.stderr or proc.stdout).strip().splitlines() or ["?"])[-1]
        raise UserError(f"`asv machine --yes` could not register this machine ({last}); run it by hand")
    return wanted, True

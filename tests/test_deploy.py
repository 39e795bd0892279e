"""The deployment files agree with each other: every Procfile process is also a Supervisor
program, and every agent there is a real one."""

from __future__ import annotations

import configparser
from pathlib import Path

from agents import AGENTS, KNOWN_AGENTS
from organism.procfile import read_procfile

ROOT = Path(__file__).resolve().parents[1]


def test_procfile_and_supervisor_run_the_same_processes():
    procs = {p.name: p.command for p in read_procfile(ROOT / "Procfile")}
    sup = configparser.ConfigParser(interpolation=None)
    sup.read(ROOT / "deploy" / "supervisord.conf")
    programs = {s.split(":", 1)[1]: sup[s]["command"] for s in sup.sections() if s.startswith("program:")}
    assert set(programs) == set(procs)
    for name, command in procs.items():
        assert programs[name].endswith(command.removeprefix("organism ")), name


def test_every_agent_in_the_procfile_exists_and_has_a_metrics_port():
    for p in read_procfile(ROOT / "Procfile"):
        words = p.command.split()
        if words[:2] == ["organism", "agent"]:
            # an agent run once per account is known as NAME_ACCOUNT (execution_paper)
            name = (f"{words[2]}_{words[words.index('--account') + 1]}"
                    if "--account" in words[:-1] else words[2])
            assert words[2] in AGENTS and name in KNOWN_AGENTS, name

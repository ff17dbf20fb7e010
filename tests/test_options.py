"""Options in one home: each agent's settings dataclass, its registration, and the CLI generated from them."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agents.cli import config as cli
from agents.cli.config import TrainConfig, train_options
from agents.cli.parser import build_parser
from agents.options import TRAINERS, SB3Settings, register_agent, reinforce_settings, unregister_agent, with_entropy_decay
from agents.reinforce import RecurrentReinforceConfig


def _train_help() -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse has no public accessor
    return "".join(sub.choices["train"].format_help().split())  # no whitespace: help wraps anywhere, even at a hyphen


def test_every_generated_option_shows_its_field_doc_and_default():
    text = _train_help()
    options = train_options()
    assert {"learning_rate", "ent_coef", "ent_coef_final", "group_size", "baseline", "episodes", "num_envs",
            "n_steps"} <= set(options)
    for name, (doc, default) in options.items():
        flag = "--" + name.replace("_", "-")
        usage = f"{flag}, --no-{flag[2:]}" if type(default) is bool else f"{flag} {name.upper()}"
        assert "".join(f"{usage} {doc} (default: {default!r})".split()) in text, name
    # the documented defaults are the ones a run gets
    cfg = TrainConfig()
    assert (cfg.settings.group_size, cfg.settings.baseline, cfg.settings.learning_rate) == (8, "leave_one_out", 1e-2)
    assert options["group_size"][1] == 8 and options["episodes"][1] == cfg.episodes


@dataclass
class _ToySettings:
    temperature: float = field(default=0.5, metadata={"help": "How bold the toy agent is."})
    hidden: int = 3  # no help: not an option


def test_a_registered_agent_appears_in_help_and_config_without_other_edits():
    register_agent("toy", None, _ToySettings)
    try:
        assert "toy" in cli.AGENTS
        text = _train_help()
        assert "--temperatureTEMPERATUREHowboldthetoyagentis.[--agenttoy](default:0.5)" in text
        assert "|toy." in text.split("--agentAGENT", 2)[2].split("(default", 1)[0]
        assert "--hidden" not in text
        args = build_parser().parse_args(["train", "--agent", "toy", "--temperature", "0.9"])
        given = {k: getattr(args, k) for k in train_options() if getattr(args, k) is not None}
        cfg = TrainConfig.from_options(**given)
        assert cfg.settings == _ToySettings(temperature=0.9)
        assert TrainConfig.from_options(temperature=0.9).settings.group_size == 8  # another agent's: ignored
        with pytest.raises(ValueError, match=r"--temperature must be a number, got 'hot'"):
            TrainConfig(agent="toy", settings={"temperature": "hot"})
    finally:
        unregister_agent("toy")
    assert "toy" not in cli.AGENTS and "temperature" not in train_options()
    with pytest.raises(ValueError, match="--agent must be one of .*reinforce.*got 'toy'"):
        TrainConfig(agent="toy")


def test_an_option_cannot_mean_two_kinds_of_value():
    @dataclass
    class Clash:
        group_size: str = field(default="big", metadata={"help": "clashes with reinforce's integer"})

    with pytest.raises(ValueError, match="--group-size"):
        register_agent("clash", None, Clash)
    assert "clash" not in TRAINERS


def test_nested_settings_round_trip_through_config_json(tmp_path: Path):
    cfg = TrainConfig.from_options(task="digits", episodes=96, num_envs=16, group_size=4, baseline="value",
                                   ent_coef_final=0.01, learning_rate=3e-3)
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    back = TrainConfig.from_json(tmp_path / "config.json")
    assert back == cfg
    assert isinstance(back.settings, RecurrentReinforceConfig)
    assert (back.settings.group_size, back.settings.baseline, back.settings.learning_rate) == (4, "value", 3e-3)
    assert back.options()["ent_coef_final"] == 0.01
    ppo = TrainConfig.from_options(agent="ppo", task="digits", n_steps=5)
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(ppo)))
    assert TrainConfig.from_json(tmp_path / "config.json").settings == SB3Settings(n_steps=5)


def test_a_flat_config_json_of_an_older_run_loads_into_the_nested_settings(tmp_path: Path):
    old = {"task": "digits", "agent": "reinforce", "episodes": 64, "num_envs": 16, "group_size": 4,
           "baseline": "leave_one_out", "learning_rate": 0.02, "ent_coef": 0.1, "ent_coef_final": 0.01,
           "horizon": 3, "steps_per_action": 4, "seed": 2, "eval_episodes": 0, "device": "cpu", "data_root": "",
           "out": "", "runners": 0, "ray_address": "", "cpus_per_runner": 1, "gpus_per_runner": 0}
    (tmp_path / "config.json").write_text(json.dumps(old))
    s = TrainConfig.from_json(tmp_path / "config.json").settings
    assert (s.group_size, s.learning_rate, s.ent_coef, s.ent_coef_final, s.seed) == (4, 0.02, 0.1, 0.01, 2)
    assert s.episodes_per_update == 16 and s.ent_decay_updates == 64 // 16  # derived, as the run trained


def test_hptune_and_the_benchmark_share_the_entropy_decay_rule():
    from agents.bench.methods import RRMeta
    from agents.bench.v1.protocol import Protocol

    cfg = TrainConfig.from_options(task="digits", episodes=1000, num_envs=16)
    assert cfg.settings == with_entropy_decay(cfg.settings, 1000)
    assert cfg.settings.ent_decay_updates == 1000 // 16
    p = Protocol(num_envs=16, rr_meta_episodes=1000)
    agent = RecurrentReinforceConfig(**RRMeta().agent_settings(p)["agent"])
    assert agent == dataclasses.replace(cfg.settings, seed=p.seed)
    assert (agent.ent_coef, agent.ent_coef_final) == (reinforce_settings().ent_coef, reinforce_settings().ent_coef_final)


def test_the_old_protocol_settings_still_work_with_a_deprecation_naming_the_new_place():
    from agents.bench.v1.protocol import Protocol

    with pytest.warns(DeprecationWarning, match="rr=dataclasses.replace"):
        p = Protocol(rr_group_size=2, rr_ent_coef=0.1)
    assert (p.rr.group_size, p.rr.ent_coef, p.rr.ent_coef_final) == (2, 0.1, 0.01)


def test_the_cli_does_not_parse_its_own_source():
    modules = sorted(Path(cli.__file__).parent.glob("*.py"))
    assert len(modules) > 5  # the package's modules, not one file
    for module in modules:
        assert not re.search(r"\bimport ast\b|\bast\.|getsource", module.read_text()), module


def _protocol_of(config: dict):
    """A Protocol from a bench run's config.json (as benchmarks/studies/transfer.py reads it)."""
    from agents.bench.v1.protocol import Protocol

    return Protocol(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["protocol"].items()})


def test_a_protocol_round_trips_through_a_bench_config_json_and_the_committed_runs_train_the_same_agent():
    from agents.bench.methods import RRMeta
    from agents.bench.v1.protocol import PRESETS

    full = PRESETS["full"]
    assert _protocol_of(json.loads(json.dumps({"protocol": dataclasses.asdict(full)}))) == full
    committed = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "digits" / "config.json"
    with pytest.warns(DeprecationWarning):  # written with the flat rr_* settings
        old = _protocol_of(json.loads(committed.read_text()))
    assert old.rr == full.rr and RRMeta().agent_settings(old) == RRMeta().agent_settings(dataclasses.replace(full, suites=old.suites))

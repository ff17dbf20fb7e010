"""What the registered benchmark run chose, shipped with the package: the references ``hptune train`` compares with.

The registered v2 run's ``results.csv`` (12 MB, in the repository only) records every child it
trained; the main job needs only the two references that run chose on each suite (the best static
tuple and the best fixed schedule). `REGISTERED_REFERENCES` holds just those, as package data
beside the protocol (`agents.bench.preregistration.REGISTERED_DATA`), so an installed wheel
compares with them; [`registered_references_json`][agents.bench.registered.registered_references_json] makes
it from a results folder, and a test checks that the committed file is what the committed results hold.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from agents.bench.preregistration import REGISTERED_DATA, REGISTERED_PROTOCOL, load_protocol

__all__ = ["REFERENCES", "REGISTERED_REFERENCES", "references_in_results", "registered_references_json",
           "registered_references"]

#: The references [`registered_references`][agents.bench.registered.registered_references] returns, as
#: ``results.csv`` names them.
REFERENCES = ("best static tuple", "best fixed schedule")

#: What the registered v2 run chose for `REFERENCES` on each suite
#: ([`registered_references_json`][agents.bench.registered.registered_references_json]).
REGISTERED_REFERENCES = REGISTERED_DATA / "v2" / "references.json"


def references_in_results(results: Path, suite: str, protocol: Path = REGISTERED_PROTOCOL) -> dict[str, list[dict]]:
    """The ``best static tuple`` and ``best fixed schedule`` that a v2 run of ``suite`` chose, read from the
    ``results.csv`` in the folder ``results`` (its rows of ``protocol``'s hash).

    ``{reference: its schedule, one dict of applied values per env step}``. A ValueError names what is missing.
    """
    expected = load_protocol(protocol).hash
    found: dict[str, list[dict]] = {}
    path = Path(results) / "results.csv"
    if path.is_file():
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if (row["suite"] == suite and row["method"] in REFERENCES and row["method"] not in found
                        and row["protocol_hash"] == expected and row["diverged"] == "False"):
                    found[row["method"]] = json.loads(row["schedule"])
                    if len(found) == len(REFERENCES):
                        break
    missing = [name for name in REFERENCES if name not in found]
    if missing:
        raise ValueError(f"{path} holds no {' or '.join(missing)} of suite {suite!r} under protocol "
                         f"{expected[:12]}: its references are chosen by that protocol's selection stage "
                         f"(hptune bench --v2 --out DIR)")
    return found


def registered_references_json(results: Path, protocol: Path = REGISTERED_PROTOCOL) -> str:
    """The text of `REGISTERED_REFERENCES` for the registered run whose folder is ``results``: the
    references of every suite of ``protocol``
    ([`references_in_results`][agents.bench.registered.references_in_results]) under its hash.

    After a new registered run, in a checkout: ``REGISTERED_REFERENCES.write_text(registered_references_json(
    Path("benchmarks/results/v2")))``; a test checks that the committed file equals this.
    """
    registered = load_protocol(protocol)
    suites = {plan.name: references_in_results(results, plan.name, protocol) for plan in registered.suites}
    return json.dumps({"protocol_hash": registered.hash, "suites": suites}, indent=1) + "\n"


def registered_references(suite: str, references: Path = REGISTERED_REFERENCES,
                          protocol: Path = REGISTERED_PROTOCOL) -> dict[str, list[dict]]:
    """The ``best static tuple`` and ``best fixed schedule`` that the registered run of ``suite`` chose.

    Read from ``references`` (`REGISTERED_REFERENCES`: what the registered run's ``results.csv``
    holds for them, [`registered_references_json`][agents.bench.registered.registered_references_json]), taken
    under ``protocol``'s hash: ``{reference: its schedule, one dict of applied values per env step}``, so a
    caller (``hptune train``) compares with exactly the references the benchmark reports, without re-running
    the selection stage. A ValueError names what is missing.
    """
    expected = load_protocol(protocol).hash
    path = Path(references)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        shipped = "; it ships with hpenv as package data: reinstall it" if path == REGISTERED_REFERENCES else ""
        raise ValueError(f"references file {str(path)!r} does not exist{shipped}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable references file ({err})") from None
    if data.get("protocol_hash") != expected:
        raise ValueError(f"{path} holds the references chosen under protocol {str(data.get('protocol_hash'))[:12]}, "
                         f"not under {protocol} ({expected[:12]}): they come from a registered run of that protocol "
                         f"(registered_references_json)")
    chosen = data.get("suites", {}).get(suite)
    if chosen is None or any(name not in chosen for name in REFERENCES):
        raise ValueError(f"{path} holds no {' or '.join(REFERENCES)} of suite {suite!r}; it has the suites "
                         f"{sorted(data.get('suites', {}))} of protocol {expected[:12]}")
    return {name: chosen[name] for name in REFERENCES}

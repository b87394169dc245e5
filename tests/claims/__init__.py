"""What the lectures' prose states, checked against the lectures' own runs.

One module per lecture (``tests/claims/l02_self_attention.py`` for
``lectures/02_self_attention.py``), each defining ``CLAIMS``: a list of :class:`Claim`.
``tests/test_notebooks.py`` runs each lecture top to bottom (seeded, as a reader would),
then evaluates every claim's ``value`` expression in the same kernel and asserts ``holds``.
``says`` must be a verbatim piece of the lecture's text, so a claim cannot drift from its prose:
change the sentence and the test names the claim that lost its sentence.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Claim:
    says: str                      # verbatim from the lecture's .py (prose or a comment)
    value: str                     # a Python expression, evaluated in the lecture's kernel after its last cell;
                                   # it must give JSON: float(...), int(...), bool(...), lists of those
    holds: Callable[[Any], bool]   # the claim, as a predicate on the value
    why: str = ""                  # what the predicate encodes (tolerance, margin), for the failure message


def claims_by_lecture() -> dict[str, list[Claim]]:
    """``{lecture stem: [Claim, ...]}`` from the modules in this package."""
    found = {}
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("l"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        found[mod.name[1:]] = list(module.CLAIMS)
    return found


def evaluation_cell(claims: list[Claim]) -> str:
    """The code appended to a lecture: prints one JSON line with every claim's value (or its error)."""
    exprs = [c.value for c in claims]
    return ("import json as _claims_json\n"
            f"_claims_exprs = {exprs!r}\n"
            "_claims_out = []\n"
            "for _e in _claims_exprs:\n"
            "    try:\n"
            "        _claims_out.append({'value': eval(_e)})\n"
            "    except Exception as _exc:\n"
            "        _claims_out.append({'error': f'{type(_exc).__name__}: {_exc}'})\n"
            "print('CLAIMS ' + _claims_json.dumps(_claims_out))\n")

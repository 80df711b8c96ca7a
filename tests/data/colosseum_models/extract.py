"""Makes models.json (beside this file) from Colosseum's exported models.

Usage: python3 extract.py DIR, where DIR holds one `<Family><Form>_seed<N>.json` per model,
exported from Colosseum (snapshot 981b344) with its own classes: `mdp`, `mdp_params`,
`mdp_seed`, `n_states`, `H` (episodic), `optimal`, `random`, `worst` (average rewards as its
MDPLoop uses them), `start` ([state, probability]), `R` ([state][action] mean rewards) and
`T_sparse` ([state, action, next state, probability] for every nonzero entry), states in
Colosseum's own numbering. The fixture keeps the figures and a digest of T, R and the start
distribution (see `digest`), which the test recomputes from the MDP ludus builds.
"""

import json
import os
import re
import sys

FAMILIES = {
    "FrozenLake": "frozen_lake",
    "SimpleGrid": "simple_grid",
    "MiniGridEmpty": "minigrid_empty",
    "MiniGridRooms": "minigrid_rooms",
    "Taxi": "taxi",
}


def digest(n_states, n_actions, T_sparse, R, start):
    """FNV-1a (64 bits) of a canonical text: `t s a n p` per transition entry (sorted), then
    `r s a r` per state and action, then `s s p` per start state (sorted); numbers with six
    decimals."""
    lines = []
    for s, a, n, p in sorted((int(s), int(a), int(n), p) for s, a, n, p in T_sparse):
        lines.append(f"t {s} {a} {n} {p:.6f}")
    for s in range(n_states):
        for a in range(n_actions):
            lines.append(f"r {s} {a} {R[s][a]:.6f}")
    for s, p in sorted((int(s), p) for s, p in start if p > 0):
        lines.append(f"s {s} {p:.6f}")
    h = 0xCBF29CE484222325
    for b in ("\n".join(lines) + "\n").encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main(src):
    models = []
    for name in sorted(os.listdir(src)):
        m = re.fullmatch(r"(\w+?)(Continuous|Episodic)_seed(\d+)\.json", name)
        if not m:
            continue
        d = json.load(open(os.path.join(src, name)))
        n_actions = len(d["R"][0])
        models.append(
            {
                "file": name,
                "family": FAMILIES[m.group(1)],
                "episodic": m.group(2) == "Episodic",
                "params": d["mdp_params"],
                "seed": d["mdp_seed"],
                "n_states": d["n_states"],
                "n_actions": n_actions,
                "H": d.get("H"),
                "optimal": d["optimal"],
                "random": d["random"],
                "worst": d["worst"],
                "digest": digest(d["n_states"], n_actions, d["T_sparse"], d["R"], d["start"]),
            }
        )
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models.json")
    with open(out + ".tmp", "w") as f:
        json.dump({"models": models}, f, indent=1)
        f.write("\n")
    os.replace(out + ".tmp", out)
    print(f"{len(models)} models -> {os.path.normpath(out)}")


if __name__ == "__main__":
    main(sys.argv[1])

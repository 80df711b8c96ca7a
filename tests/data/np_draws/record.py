"""Records draws.json (beside this file): what NumPy's legacy RandomState, Gym 0.26's
generate_random_map and Python's random.Random give for a set of seeds, for the calls
Colosseum's MDP families make. Run with NumPy < 2 (1.26.4 was used) and gym 0.26.2:

    python3 record.py
"""

import json
import os
import random
import struct

import numpy as np
from gym.envs.toy_text.frozen_lake import generate_random_map

SEEDS = [0, 1, 2, 3, 7, 42, 123, 999, 2**16, 2**31 - 1, 2**31, 2**32 - 1]
SEEDS += random.Random(2024).sample(range(2**32), 28)
def bits(x):
    """A double's IEEE-754 bits, so the value is read back exactly."""
    return struct.unpack("<Q", struct.pack("<d", x))[0]


BOUNDS = [1, 2, 3, 4, 5, 7, 15, 16, 17, 100, 1000, 2**31 + 1, 2**32]


def record(seed):
    rs = np.random.RandomState(seed)
    out = {"seed": seed}
    out["random_sample_bits"] = [bits(x) for x in rs.random_sample(4).tolist()]
    out["randint"] = [[n, int(rs.randint(n))] for n in BOUNDS]
    out["shuffle"] = []
    for k in [1, 2, 5, 13, 40]:
        lst = list(range(k))
        rs.shuffle(lst)
        out["shuffle"].append(lst)
    out["rand_argsort"] = [rs.rand(k).argsort().tolist() for k in [2, 3, 5]]
    p = round(0.1 + 0.9 * random.Random(seed).random(), 3)
    size = 3 + seed % 5
    out["choice_p_bits"] = bits(p)
    out["choice"] = rs.choice(["F", "H"], (size, size), p=[p, 1 - p]).tolist()
    out["next_u32"] = int(rs.randint(2**32))
    np.random.seed(seed)
    out["map"] = {"size": size, "p_bits": bits(p), "rows": generate_random_map(size=size, p=p)}
    py = random.Random(seed)
    out["py_randint"] = [[a, b, py.randint(a, b)] for a, b in [(0, 3), (0, 2), (0, 99), (5, 9), (0, 0)]]
    return out


def main():
    draws = [record(s) for s in SEEDS]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "draws.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"numpy": np.__version__, "draws": draws}, f)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print(f"{len(draws)} seeds -> {path}")


if __name__ == "__main__":
    main()

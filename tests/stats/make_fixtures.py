"""Writes tests/stats/fixtures.json: the values flowgate's exact statistics must reproduce.

Made with SciPy (the version is recorded in the file):
    python3 -m venv .venv-sp && .venv-sp/bin/pip install scipy==1.17.0
    .venv-sp/bin/python tests/stats/make_fixtures.py > tests/stats/fixtures.json
"""
import json
import math

import scipy
from scipy import stats

wilson = []
for k, n in [(0, 30), (30, 30), (27, 30), (1, 10), (5, 60), (294, 300), (0, 100), (0, 300), (97, 100), (1, 1), (500, 1000)]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    wilson.append({"successes": k, "n": n, "lower": ci.low, "upper": ci.high})

mcnemar = []
for b, c in [(0, 0), (5, 0), (4, 0), (3, 1), (10, 2), (2, 10), (7, 7), (0, 6), (25, 12), (60, 40), (1, 0)]:
    n = b + c
    p = 1.0 if n == 0 else float(stats.binom.sf(b, n, 0.5) + 0.5 * stats.binom.pmf(b, n, 0.5))
    mcnemar.append({"b": b, "c": c, "mid_p": p})

fisher = []
for table in [[[5, 55], [6, 294]], [[3, 7], [2, 98]], [[0, 30], [1, 299]], [[10, 20], [5, 25]], [[1, 0], [0, 1]], [[7, 393], [6, 294]]]:
    _, p = stats.fisher_exact(table, alternative="greater")
    fisher.append({"table": table, "p_greater": float(p)})

sprt = []
for p0, p1, alpha, beta, n, x in [(0.02, 0.06, 0.05, 0.2, 38, 0), (0.02, 0.06, 0.05, 0.2, 10, 3), (0.02, 0.06, 0.05, 0.2, 65, 1), (0.1, 0.2, 0.025, 0.2, 50, 9)]:
    llr = x * math.log(p1 / p0) + (n - x) * math.log((1 - p1) / (1 - p0))
    sprt.append({"p0": p0, "p1": p1, "alpha": alpha, "beta": beta, "n": n, "failures": x, "llr": llr,
                 "upper": math.log((1 - beta) / alpha), "lower": math.log(beta / (1 - alpha))})

print(json.dumps({"scipy": scipy.__version__, "wilson": wilson, "mcnemar_mid_p": mcnemar, "fisher_greater": fisher, "sprt": sprt}, indent=1))

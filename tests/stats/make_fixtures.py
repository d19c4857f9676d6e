"""Writes tests/stats/fixtures.json: the values flowgate's exact statistics must reproduce.

Made with SciPy (the version is recorded in the file):
    python3 -m venv .venv-sp && .venv-sp/bin/pip install scipy==1.17.0
    .venv-sp/bin/python tests/stats/make_fixtures.py > tests/stats/fixtures.json
"""
import json
import math

import numpy as np
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

# Paired Wilcoxon signed-rank, Pratt, one-sided "less" on candidate - baseline. Up to 200 non-zero
# differences flowgate is exact over every sign assignment: SciPy's full enumeration
# (PermutationMethod with n_resamples=inf) where 2^n is small, its "exact" for larger untied
# samples; beyond 200, its normal approximation ("asymptotic", no continuity correction).
rng = np.random.default_rng(12)
wilcoxon = []
def case(d, method):
    d = [float(x) for x in d]
    m = stats.PermutationMethod(n_resamples=np.inf) if method == "enumerate" else method
    r = stats.wilcoxon(d, zero_method="pratt", alternative="less", method=m)
    wilcoxon.append({"differences": d, "method": method, "r_plus": float(r.statistic), "p_less": float(r.pvalue)})
case([-0.1, -0.2, -0.3, -0.4, -0.5, 0.05, 0.0, -0.2], "enumerate")
case([0.0, 0.0, -1.0, 1.0, -1.0, -1.0, 0.5, -0.5, 0.0, -0.25, -0.25, -1.0], "enumerate")
case(np.round(rng.normal(-0.05, 0.2, 16), 2), "enumerate")
case(rng.permutation(np.arange(1, 31)) * rng.choice([-1, 1], 30) / 100, "exact")
case(rng.permutation(np.arange(1, 51)) * np.where(np.arange(50) < 30, -1, 1) / 100, "exact")
case(np.round(rng.normal(-0.02, 0.3, 400), 1), "asymptotic")
case(np.concatenate([np.zeros(120), np.round(rng.normal(0.01, 0.1, 300), 2)]), "asymptotic")

print(json.dumps({"scipy": scipy.__version__, "wilson": wilson, "mcnemar_mid_p": mcnemar, "fisher_greater": fisher, "sprt": sprt, "wilcoxon_pratt_less": wilcoxon}, indent=1))

"""Scores the claims prompt flow and two changed candidates with the real azure-ai-evaluation.

For each variant it runs the real prompt flow (promptflow's `load_flow`, in process, offline) over
every item of the pinned evaluation dataset, then `azure.ai.evaluation.evaluate()` with
`F1ScoreEvaluator` (pass/fail per item at its threshold) and a custom exact match (a score of 0 or
1), and writes the result file `evaluate()` writes. The variants:

    baseline    examples/claims/flow as it is
    regressed   the flow with "damage", "stolen" and "theft" dropped from the fnol keywords
    improved    the flow with "cracked" and "fell on" added to them

Usage (scripts/test runs it through tests/api/evaluation_real.rs):
    python score_flows.py FLOW_DIR DATASET OUT_DIR
writes OUT_DIR/{baseline,regressed,improved}.json.
"""
import json
import pathlib
import shutil
import subprocess
import sys

from azure.ai.evaluation import F1ScoreEvaluator, evaluate
from promptflow.client import load_flow

CHANGES = {
    "baseline": [],
    "regressed": [('"damage", "stolen", "theft", ', "")],
    "improved": [('"crash"]', '"crash", "cracked", "fell on"]')],
}


def exact_match(*, response: str, ground_truth: str) -> dict:
    return {"exact_match": 1.0 if response.strip() == ground_truth.strip() else 0.0}


def variant(flow_dir: pathlib.Path, out: pathlib.Path, name: str) -> pathlib.Path:
    target = out / f"flow-{name}"
    shutil.copytree(flow_dir, target, ignore=shutil.ignore_patterns(".promptflow", "__pycache__"))
    code = (target / "classify.py").read_text()
    for old, new in CHANGES[name]:
        if old not in code:
            sys.exit(f"{name}: the flow's code no longer has {old!r}; update tests/evaluation/score_flows.py")
        code = code.replace(old, new)
    (target / "classify.py").write_text(code)
    return target


def score(flow_dir: pathlib.Path, dataset: pathlib.Path, out: pathlib.Path, name: str) -> None:
    items = [json.loads(line) for line in dataset.read_text().splitlines() if line.strip()]
    flow = load_flow(str(variant(flow_dir, out, name)))
    data = out / f"{name}-answers.jsonl"
    with data.open("w") as f:
        for item in items:
            answer = flow(text=item["text"])
            f.write(json.dumps({"id": item["id"], "ground_truth": item["ground_truth"], "response": answer["label"]}) + "\n")
    evaluate(
        data=str(data),
        evaluators={"f1": F1ScoreEvaluator(), "exact_match": exact_match},
        output_path=str(out / f"{name}.json"),
        fail_on_evaluator_errors=True,
    )
    print(f"{name}: {len(items)} items scored", file=sys.stderr)


def main() -> None:
    flow_dir, dataset, out = (pathlib.Path(a) for a in sys.argv[1:4])
    out.mkdir(parents=True, exist_ok=True)
    if len(sys.argv) > 4:
        score(flow_dir, dataset, out, sys.argv[4])
        return
    # One process per variant: prompt flow keeps a flow's code loaded for the life of a process.
    for name in CHANGES:
        subprocess.run([sys.executable, __file__, *sys.argv[1:4], name], check=True)


if __name__ == "__main__":
    main()

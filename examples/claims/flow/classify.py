"""Classify claim correspondence by keywords (fnol, billing, complaint, other).

A deliberately simple, deterministic stand-in for an LLM node, so the flow runs offline. The
demo scorer in flowgate (handlers/local_host/demo.rs) applies the same rules.
"""

from promptflow.core import tool

KEYWORDS = {
    "fnol": ["accident", "collision", "first notice", "damage", "stolen", "theft", "crash"],
    "billing": ["invoice", "premium", "payment", "refund", "charge", "billing"],
    "complaint": ["complain", "unacceptable", "disappointed", "ombudsman", "angry", "escalate"],
}


@tool
def classify(text: str) -> dict:
    t = text.lower()
    hits = {label: sum(k in t for k in kws) for label, kws in KEYWORDS.items()}
    total = sum(hits.values())
    if total == 0:
        return {"label": "other", "confidence": 0.5}
    label = max(hits, key=hits.get)
    return {"label": label, "confidence": round(hits[label] / total, 3)}

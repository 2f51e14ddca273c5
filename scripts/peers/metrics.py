"""Evaluation metrics shared by the peer systems; definitions mirror `dtag eval`.

* Ranking: labels the model knows, sorted by score (descending; ties by label index).
* P@k   = mean over docs of |relevant in top k| / k.
* R@5   = mean over docs of |relevant in top 5| / |relevant| (all gold labels, seen or not).
* nDCG@5: binary gain, 1/log2(rank+1) discount, normalised by the ideal DCG over
  min(5, |relevant|) relevant labels.
* Decision set per doc: labels whose decision passes the system's threshold
  (probability >= 0.5, or decision value > 0), and always at least the top-ranked label.
* micro P/R/F1 over all (doc, label) decisions; gold labels unseen in training count as
  false negatives.
* macro-F1: mean over labels with test support (gold) of per-label F1; labels unseen in
  training have F1 = 0.
* doc_f1: mean over docs of the F1 between decision set and gold set.
"""

from __future__ import annotations

import math

import numpy as np


def _f1(tp: int, fp: int, fn: int) -> float:
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def evaluate(scores: np.ndarray, decide: np.ndarray, labels: list[str],
             gold: list[list[str]]) -> dict:
    """scores/decide: (n_docs, n_labels) arrays over `labels`; gold: label names per doc."""
    n_docs = len(gold)
    assert scores.shape == (n_docs, len(labels)) == decide.shape
    k_max = min(5, len(labels))
    # Stable sort on -score: ties broken by label index.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k_max]
    discount = [1.0 / math.log2(r + 2) for r in range(5)]

    p1 = p3 = p5 = r5 = ndcg = doc_f1 = 0.0
    tp_l: dict[str, int] = {}
    fp_l: dict[str, int] = {}
    fn_l: dict[str, int] = {}
    for i in range(n_docs):
        g = set(gold[i])
        top = [labels[j] for j in order[i]]
        hits = [1 if lab in g else 0 for lab in top]
        p1 += sum(hits[:1]) / 1
        p3 += sum(hits[:3]) / 3
        p5 += sum(hits[:5]) / 5
        if g:
            r5 += sum(hits[:5]) / len(g)
            dcg = sum(h * discount[r] for r, h in enumerate(hits[:5]))
            idcg = sum(discount[r] for r in range(min(5, len(g))))
            ndcg += dcg / idcg
        chosen = {labels[j] for j in np.flatnonzero(decide[i])}
        chosen.add(top[0])  # always at least the top-ranked label
        tp = len(chosen & g)
        doc_f1 += _f1(tp, len(chosen) - tp, len(g) - tp)
        for lab in chosen:
            if lab in g:
                tp_l[lab] = tp_l.get(lab, 0) + 1
            else:
                fp_l[lab] = fp_l.get(lab, 0) + 1
        for lab in g - chosen:
            fn_l[lab] = fn_l.get(lab, 0) + 1

    tp, fp, fn = sum(tp_l.values()), sum(fp_l.values()), sum(fn_l.values())
    micro_p = tp / (tp + fp) if tp + fp else 0.0
    micro_r = tp / (tp + fn) if tp + fn else 0.0
    supported = {lab for doc in gold for lab in doc}
    macro = (sum(_f1(tp_l.get(l, 0), fp_l.get(l, 0), fn_l.get(l, 0)) for l in supported)
             / len(supported)) if supported else 0.0
    n = max(n_docs, 1)
    return {
        "docs": n_docs,
        "p_at_1": p1 / n,
        "p_at_3": p3 / n,
        "p_at_5": p5 / n,
        "r_at_5": r5 / n,
        "ndcg_at_5": ndcg / n,
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": _f1(tp, fp, fn),
        "macro_f1": macro,
        "doc_f1": doc_f1 / n,
    }

#!/usr/bin/env python3
"""How far a reweighting of the ensemble's evidence could rank: reads the candidate table that
`tests/suggest_profile.rs::the_ensembles_candidates_with_their_evidence` writes and prints
P@1 / P@5 of the model's own fused values, of a perfect order of the same candidates, and of
logistic fusions fitted on the evaluated documents themselves (weights chosen with the
answers in view, which no training can do; a likelihood fit, so a guide rather than an exact
bound on P@k) and cross-fitted on them in 5 folds.

    DTAG_PROFILE_MODEL=m.dtag DTAG_PROFILE_DRAFTS=test.txt DTAG_PROFILE_OUT=c.tsv \
      cargo test --release --test suggest_profile -- --ignored the_ensembles_candidates
    python3 scripts/fusion_ceiling.py c.tsv      # needs numpy and scikit-learn
"""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold


def read(path):
    docs, values, gold, features, n_docs = [], [], [], [], 0
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        trained_at = header.index("ovr_trained") - 3
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "#gold":
                n_docs += 1
                continue
            docs.append(int(fields[0]))
            values.append(float(fields[1]))
            gold.append(int(fields[2]))
            features.append([float(x) for x in fields[3:]])
    return (np.array(docs), np.array(values), np.array(gold), np.array(features),
            n_docs, trained_at)


def precision_at(docs, score, gold, n_docs, k):
    hits = 0
    for d in np.unique(docs):
        at = np.where(docs == d)[0]
        top = at[np.argsort(-score[at], kind="stable")[:k]]
        hits += gold[top].sum()
    return hits / (k * n_docs)


def fitted(x, y, seen, train=None, test=None):
    """Decision values of two logistic fusions (seen and unseen candidates apart, as dtag
    scores them), fitted on `train` rows and applied to `test` rows (default: all)."""
    train = np.ones(len(y), bool) if train is None else train
    test = np.ones(len(y), bool) if test is None else test
    out = np.zeros(len(y))
    for part in (seen, ~seen):
        fit_rows, score_rows = part & train, part & test
        if score_rows.sum() == 0:
            continue
        if len(np.unique(y[fit_rows])) < 2:
            out[score_rows] = y[fit_rows].mean() if fit_rows.any() else 0.0
            continue
        model = LogisticRegression(C=10, max_iter=5000).fit(x[fit_rows], y[fit_rows])
        out[score_rows] = model.decision_function(x[score_rows])
    return out


def main():
    docs, values, gold, x, n_docs, trained_at = read(sys.argv[1])
    seen = x[:, trained_at] > 0
    print(f"{n_docs} documents, {len(gold)} candidates, {gold.sum()} of them gold")
    rows = [("the model's fused values", values),
            ("a perfect order of the same candidates", gold.astype(float)),
            ("fusions fitted on these documents, answers in view", fitted(x, gold, seen))]
    cross = np.zeros(len(gold))
    for train, test in GroupKFold(5).split(x, gold, docs):
        tr = np.zeros(len(gold), bool)
        tr[train] = True
        te = np.zeros(len(gold), bool)
        te[test] = True
        cross[te] = fitted(x, gold, seen, tr, te)[te]
    rows.append(("fusions cross-fitted on these documents, 5 folds", cross))
    for name, score in rows:
        p1 = precision_at(docs, score, gold, n_docs, 1)
        p5 = precision_at(docs, score, gold, n_docs, 5)
        print(f"{name}: P@1 {p1:.3f} P@5 {p5:.3f}")


if __name__ == "__main__":
    main()

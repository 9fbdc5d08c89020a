"""Starter for a task prepared by `mlagent tasks prepare`: __MODEL_DOC__ on every
column, numbers as they are and any other column by its length. Reads data/*.csv, writes
valid_predictions.csv and submission.csv (id,prediction)."""
import csv

import numpy as np
__MODEL_IMPORT__

TARGET = "__TARGET__"


def load(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


train, valid, test = load("data/train.csv"), load("data/valid.csv"), load("data/test.csv")
COLUMNS = [c for c in train[0] if c not in ("id", TARGET)]


def cell(v):
    if v.strip() in ("", "NA", "NaN", "nan"):
        return float("nan")
    try:
        return float(v)
    except ValueError:
        return float(len(v))


def matrix(rows):
    m = np.array([[cell(r[c]) for c in COLUMNS] for r in rows], dtype=float)
    m[~np.isfinite(m)] = np.nan
    return m


X = matrix(train)
medians = np.nan_to_num(np.nanmedian(X, axis=0))
filled = np.where(np.isnan(X), medians, X)
mean, std = filled.mean(axis=0), filled.std(axis=0) + 1e-9


def fill(m):
    return (np.where(np.isnan(m), medians, m) - mean) / std


X = fill(X)
y = np.array([r[TARGET] for r in train])
__MODEL__

for rows, out in [(valid, "valid_predictions.csv"), (test, "submission.csv")]:
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "prediction"])
        w.writerows(zip([r["id"] for r in rows], predict(fill(matrix(rows)))))
print(f"trained on {len(train)} rows, {len(COLUMNS)} columns")

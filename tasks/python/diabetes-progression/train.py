"""Starter: linear regression on age alone. Reads data/*.csv, writes
valid_predictions.csv and submission.csv (id,prediction)."""
import csv

import numpy as np
from sklearn.linear_model import LinearRegression

FEATURES = ["age"]
TARGET = "target"


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def matrix(rows):
    return np.array([[float(r[c]) for c in FEATURES] for r in rows])


train, valid, test = load("data/train.csv"), load("data/valid.csv"), load("data/test.csv")
model = LinearRegression()
model.fit(matrix(train), [float(r[TARGET]) for r in train])

for rows, out in [(valid, "valid_predictions.csv"), (test, "submission.csv")]:
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "prediction"])
        w.writerows(zip([r["id"] for r in rows], model.predict(matrix(rows))))
print(f"trained on {len(train)} rows")

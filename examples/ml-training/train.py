"""Churn-model training job for examples/ml-training.

Reads its features through the Airlock sidecar: the pod gets DATABASE_URL pointing at 127.0.0.1 and no
credentials. Features come in bulk with COPY … TO STDOUT (CSV into pandas), labels with a plain SELECT;
e-mail addresses arrive hashed by the policy's masking (equal inputs give equal hashes, so they still
work as a join or group key). It fits a linear model with numpy, records the run in features.model_runs,
and prints one JSON line per epoch, so a policy change reaching the running Job shows in its log.

  DATABASE_URL=postgresql://127.0.0.1:5432/features python train.py [--epochs N] [--sleep SECONDS]
"""
import argparse
import io
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import psycopg

FEATURES_SQL = """
COPY (
  SELECT c.customer_id, c.email, c.country, a.tenure_days, a.orders_90d, a.spend_90d, a.support_tickets
  FROM features.customers c JOIN features.activity a USING (customer_id)
  ORDER BY c.customer_id
) TO STDOUT WITH (FORMAT csv)
"""
# Airlock masks COPY output column by column; it follows FORMAT, HEADER, DELIMITER, QUOTE, ESCAPE, NULL and
# FORCE_QUOTE and refuses other options when a masked column is in the result. Plain CSV, columns named here.
FEATURE_COLUMNS = ["customer_id", "email", "country", "tenure_days", "orders_90d", "spend_90d", "support_tickets"]
LABELS_SQL = "SELECT customer_id, churned FROM features.labels ORDER BY customer_id"
NUMERIC = ["tenure_days", "orders_90d", "spend_90d", "support_tickets"]


def read_features(conn: psycopg.Connection) -> pd.DataFrame:
    buf = io.BytesIO()
    with conn.cursor() as cur:
        with cur.copy(FEATURES_SQL) as copy:
            for chunk in copy:
                buf.write(chunk)
    buf.seek(0)
    return pd.read_csv(buf, names=FEATURE_COLUMNS, header=None, dtype={"email": "string", "country": "string"})


def read_labels(conn: psycopg.Connection) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(LABELS_SQL)
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def fit(df: pd.DataFrame) -> tuple[dict[str, float], float]:
    x = df[NUMERIC].astype(float)
    x = (x - x.mean()) / x.std(ddof=0)
    design = np.column_stack([np.ones(len(x)), x.to_numpy()])
    y = df["churned"].astype(float).to_numpy()
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    score = design @ coef
    pos, neg = score[y == 1], score[y == 0]
    # Probability that a churner scores above a non-churner: the AUC, without scikit-learn.
    auc = float((pos[:, None] > neg[None, :]).mean()) if len(pos) and len(neg) else 0.5
    return {name: round(float(c), 4) for name, c in zip(["intercept", *NUMERIC], coef)}, round(auc, 4)


def epoch(conn: psycopg.Connection, n: int) -> dict:
    features = read_features(conn)
    labels = read_labels(conn)
    df = features.merge(labels, on="customer_id")
    coef, auc = fit(df)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO features.model_runs (model, rows_used, auc_proxy) VALUES (%s, %s, %s)",
            ("churn-linear", len(df), auc),
        )
    conn.commit()
    return {
        "epoch": n,
        "rows": len(df),
        "columns": list(df.columns),
        "email_sample": df["email"].head(3).tolist(),
        "distinct_emails": int(df["email"].nunique()),
        "by_country": {k: int(v) for k, v in df.groupby("country")["churned"].sum().items()},
        "coefficients": coef,
        "auc": auc,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=int(os.environ.get("EPOCHS", "1")))
    ap.add_argument("--sleep", type=float, default=float(os.environ.get("EPOCH_SLEEP_SECONDS", "0")))
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("train.py: DATABASE_URL is not set (the Airlock sidecar injection sets it)", file=sys.stderr)
        return 2
    with psycopg.connect(url) as conn:
        for n in range(1, args.epochs + 1):
            try:
                print(json.dumps(epoch(conn, n)), flush=True)
            except psycopg.errors.InsufficientPrivilege as e:
                # A denial (42501) names the policy and rule; the session stays usable.
                conn.rollback()
                print(json.dumps({"epoch": n, "denied": e.sqlstate, "message": str(e).splitlines()[0]}), flush=True)
            if n < args.epochs:
                time.sleep(args.sleep)
    return 0


if __name__ == "__main__":
    sys.exit(main())

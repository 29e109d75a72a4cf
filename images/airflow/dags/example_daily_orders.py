"""### example_daily_orders

A small daily pipeline to copy: **extract → transform → load to S3**, one partition per logical date.

- **extract** reads the day's orders. Here they are made up, the same ones for the same date, so the
  example runs anywhere; replace it with your source (a hook to a database or an API, files).
- **transform** drops cancelled orders and sums orders and revenue per country.
- **load** writes the summary to `<prefix>/orders_daily/ds=<YYYY-MM-DD>/summary.json`, replacing
  what a previous run of that date wrote.

**Idempotent:** every task depends only on the logical date, and the load overwrites the one object
of that date, so a retry, a clear or a backfill of a day gives the same result and never a duplicate.

**Where it writes:** the Airflow Variable `example_daily_orders_s3_prefix` (an `s3://bucket/prefix`
URL). Without it, `examples/` under the task-log folder, the one prefix the worker role may write to
out of the box. For your own pipelines, use a bucket of their own and grant the worker's Pod Identity
role access to it (Terraform, `airflow-logs-and-secrets` policy).

**Copying it:** rename the DAG id, set `owner` and `tags`, keep `retries`, and keep heavy imports
inside the tasks, so that parsing the file stays cheap.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

TARGET_VARIABLE = "example_daily_orders_s3_prefix"


def _day(ds: str | None) -> str:
    if not ds:
        raise ValueError("this pipeline writes one partition per logical date: trigger it with a logical date")
    return ds


@dag(
    dag_id="example_daily_orders",
    description="Example: daily orders, extract → transform → load to S3, idempotent by logical date",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "orders"],
    default_args={
        "owner": "data-engineering",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=20),
    },
)
def example_daily_orders() -> None:
    @task
    def extract(ds: str | None = None) -> list[dict[str, Any]]:
        """The orders of the logical date (made up here, deterministically: the same date gives the same orders)."""
        import random

        day = _day(ds)
        rng = random.Random(day)
        countries = ["DE", "FR", "GB", "IE", "NL"]
        statuses = ["delivered", "delivered", "delivered", "shipped", "cancelled"]
        return [
            {
                "order_id": f"{day}-{n:04d}",
                "country": rng.choice(countries),
                "status": rng.choice(statuses),
                "amount_cents": rng.randint(500, 25_000),
            }
            for n in range(rng.randint(40, 80))
        ]

    @task
    def transform(orders: list[dict[str, Any]], ds: str | None = None) -> dict[str, Any]:
        """Orders and revenue per country, cancelled orders left out."""
        by_country: dict[str, dict[str, int]] = {}
        for order in orders:
            if order["status"] == "cancelled":
                continue
            totals = by_country.setdefault(order["country"], {"orders": 0, "revenue_cents": 0})
            totals["orders"] += 1
            totals["revenue_cents"] += order["amount_cents"]
        return {
            "date": _day(ds),
            "orders": sum(t["orders"] for t in by_country.values()),
            "revenue_cents": sum(t["revenue_cents"] for t in by_country.values()),
            "by_country": dict(sorted(by_country.items())),
        }

    @task
    def load(summary: dict[str, Any], ds: str | None = None) -> str:
        """Write the day's summary to its own key, replacing an earlier run's: reruns never duplicate."""
        import json
        import os

        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk import Variable

        prefix = Variable.get(TARGET_VARIABLE, default=None)
        if not prefix:
            logs = os.environ.get("AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER")
            if not logs:
                from airflow.sdk.configuration import conf

                logs = conf.get("logging", "remote_base_log_folder", fallback="")
            if not logs:
                raise RuntimeError(
                    f"set the Variable {TARGET_VARIABLE} to an s3:// prefix: there is no remote log folder to default to"
                )
            prefix = f"{logs.rstrip('/')}/examples"
        if not prefix.startswith("s3://"):
            raise ValueError(f"{TARGET_VARIABLE} must be an s3:// URL, not {prefix!r}")
        bucket, _, base = prefix.removeprefix("s3://").partition("/")
        key = "/".join(p for p in (base.strip("/"), "orders_daily", f"ds={_day(ds)}", "summary.json") if p)
        # No connection: boto3's default chain, which finds the worker's Pod Identity credentials.
        S3Hook(aws_conn_id=None).load_string(json.dumps(summary, sort_keys=True), key=key, bucket_name=bucket, replace=True)
        return f"s3://{bucket}/{key}"

    load(transform(extract()))


example_daily_orders()

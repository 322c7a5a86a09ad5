"""Copies one object with boto3's managed copy (s3transfer), as NASA ORCA and
the AWS CLI do, against an S3 endpoint (the model of S3, or the local server
with --access-key/--secret-key), and prints the seconds the copy took
(measured around the copy call, so interpreter start and imports are not
counted) and the parts it used, as JSON.

Used by the benchmarks in shared/copyfile (BenchmarkModelCopy,
BenchmarkCopyBoto3):

    python3 boto3_copy.py --endpoint URL --source-bucket B --source-key K \
        --target-bucket B2 --chunk-mib 250 --threads 10

--threshold-mib sets multipart_threshold (default 8, boto3's own);
--guidance-calls first calls head_object and get_object_tagging on the
source, as AWS's restore-and-copy guidance's EventDrivenCopy.py does before
its s3.copy (its metadata and tag copy).
"""
import argparse
import json
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MiB = 1024 * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--source-bucket", required=True)
    ap.add_argument("--source-key", required=True)
    ap.add_argument("--target-bucket", required=True)
    ap.add_argument("--chunk-mib", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--threshold-mib", type=int, default=8)
    ap.add_argument("--guidance-calls", action="store_true")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--access-key", default="model")
    ap.add_argument("--secret-key", default="model")
    a = ap.parse_args()

    s3 = boto3.client(
        "s3",
        endpoint_url=a.endpoint,
        region_name=a.region,
        aws_access_key_id=a.access_key,
        aws_secret_access_key=a.secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            # one connection per thread, as the transfer manager needs
            max_pool_connections=max(10, a.threads + 2),
            retries={"mode": "standard"},
        ),
    )
    # TransferConfig counts MB as MiB (s3transfer.constants.MB = 1024**2).
    cfg = TransferConfig(
        multipart_threshold=a.threshold_mib * MiB,
        multipart_chunksize=a.chunk_mib * MiB,
        max_concurrency=a.threads,
    )
    start = time.perf_counter()
    if a.guidance_calls:
        s3.head_object(Bucket=a.source_bucket, Key=a.source_key)
        s3.get_object_tagging(Bucket=a.source_bucket, Key=a.source_key)
    s3.copy({"Bucket": a.source_bucket, "Key": a.source_key}, a.target_bucket, a.source_key, Config=cfg)
    elapsed = time.perf_counter() - start
    json.dump({"seconds": elapsed, "boto3": boto3.__version__}, sys.stdout)
    print()


if __name__ == "__main__":
    main()

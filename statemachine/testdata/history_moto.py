"""Runs a definition on moto's Step Functions interpreter (LocalStack's ASL
interpreter, which writes AWS's history event types) against a stand-in
Lambda Invoke API on loopback that fails every invocation with a retried
error, and prints the execution's status and history events as JSON.

Usage: python3 history_moto.py DEFINITION.json INPUT_JSON ERROR_TYPE
Used by statemachine's TestHistoryBoundMatchesMoto.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

definition_path, execution_input, error_type = sys.argv[1], sys.argv[2], sys.argv[3]


class FailingInvoke(BaseHTTPRequestHandler):
    """Answers every Invoke as a function error of error_type."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"errorType": error_type, "errorMessage": "stand-in failure"}).encode()
        self.send_response(200)
        self.send_header("X-Amz-Function-Error", "Unhandled")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), FailingInvoke)
threading.Thread(target=server.serve_forever, daemon=True).start()
os.environ["AWS_ENDPOINT_URL_LAMBDA"] = "http://127.0.0.1:%d" % server.server_address[1]
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core.config import default_user_config  # noqa: E402

default_user_config["stepfunctions"]["execute_state_machine"] = True
default_user_config["core"]["passthrough"] = {"urls": [r"http://127\.0\.0\.1:\d+/.*"]}

with open(definition_path) as f:
    definition = f.read()
with mock_aws():
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(name="history", definition=definition,
                                       roleArn="arn:aws:iam::123456789012:role/history")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=execution_input)["executionArn"]
    status = "RUNNING"
    for _ in range(600):
        status = sfn.describe_execution(executionArn=execution)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.1)
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    print(json.dumps({"status": status, "events": [e["type"] for e in events]}))
server.shutdown()

"""Runs a definition on moto's Step Functions interpreter (LocalStack's ASL
interpreter, which writes AWS's history event types) against a stand-in
Lambda Invoke API on loopback that answers each function (and each
request-status operation) from a script, and prints the execution's status,
history events and output as JSON.

Usage: python3 history_moto.py DEFINITION.json INPUT_JSON SCRIPT_JSON

SCRIPT_JSON maps "copy-file" or "request-status:<operation>" to the answers
of its invocations, in order: {"error": "ErrorType"} fails the invocation
with that errorType (as a Go Lambda's unhandled error), {"result": {...}}
returns the result. Used by statemachine's moto tests (TestHistoryBoundMatchesMoto,
TestExpressChildSkipsAnAlreadyCopiedFile).
"""
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

definition_path, execution_input, script = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
lock = threading.Lock()


def next_answer(path, body):
    """Pops the next scripted answer of the function the path names."""
    arn = urllib.parse.unquote(path.split("/functions/")[1].split("/")[0])
    key = arn.rsplit(":", 1)[-1]
    if isinstance(body, dict) and body.get("operation"):
        key += ":" + body["operation"]
    with lock:
        answers = script.get(key) or []
        if not answers:
            return {"error": "UnscriptedCall", "message": "no answer left for " + key}
        return answers.pop(0)


class ScriptedInvoke(BaseHTTPRequestHandler):
    """Answers every Invoke from the script."""

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        answer = next_answer(self.path, request)
        self.send_response(200)
        if "error" in answer:
            body = json.dumps({"errorType": answer["error"], "errorMessage": answer.get("message", "stand-in failure")}).encode()
            self.send_header("X-Amz-Function-Error", "Unhandled")
        else:
            body = json.dumps(answer["result"]).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), ScriptedInvoke)
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
    status, output = "RUNNING", None
    for _ in range(1200):
        described = sfn.describe_execution(executionArn=execution)
        status = described["status"]
        if status != "RUNNING":
            output = described.get("output")
            break
        time.sleep(0.1)
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    left = {k: len(v) for k, v in script.items() if v}
    print(json.dumps({"status": status, "output": output, "events": [e["type"] for e in events], "unused_answers": left}))
server.shutdown()

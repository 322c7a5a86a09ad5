# Runs one Step Functions execution on moto's Step Functions backend, which
# embeds LocalStack's ASL interpreter, in this process (mock_aws), and streams
# the execution's history to stdout as JSON lines {"event": <AWS history
# event>}, then one line {"result": {status, output, error, cause}}: the same
# protocol as engine.cjs. Input: one JSON document on stdin:
# {definition, input, region, retryPauseMs}.
#
# Lambda tasks are invoked over HTTP at AWS_ENDPOINT_URL_LAMBDA (the local
# Invoke API); moto lets those requests through by a passthrough rule for
# loopback URLs. retryPauseMs, when set, caps every Retry pause at that many
# milliseconds by replacing the interpreter's sleep (the definition is not
# touched).
import datetime
import json
import sys
import time
import types


def emit(line):
    sys.stdout.write(json.dumps(line, default=_json_default, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _json_default(v):
    if isinstance(v, datetime.datetime):
        return int(v.timestamp() * 1000)
    raise TypeError(f"cannot encode {type(v).__name__}")


def fail_invalid(error, cause):
    emit({"result": {"status": "INVALID", "error": error, "cause": cause}})


def main():
    job = json.load(sys.stdin)
    try:
        import boto3
        from moto import mock_aws
        from moto.core.config import default_user_config
    except ImportError as err:
        fail_invalid("EngineMissing", f"moto is not importable in {sys.executable}: {err}")
        return 1

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    default_user_config["core"]["passthrough"] = {
        "urls": [r"http://127\.0\.0\.1:\d+/.*", r"http://localhost:\d+/.*"],
        "services": [],
    }

    pause_ms = job.get("retryPauseMs")
    if pause_ms:
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        real_sleep = time.sleep
        cap = pause_ms / 1000.0
        retrier_decl.time = types.SimpleNamespace(sleep=lambda s: real_sleep(min(s, cap)))

    name_lambda_service_errors()

    region = job.get("region") or "us-east-1"
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=region)
        try:
            machine = sfn.create_state_machine(
                name="copy-files-to-archive",
                definition=json.dumps(job["definition"]),
                roleArn="arn:aws:iam::123456789012:role/local-state-machine",
                type="STANDARD",
            )
        except sfn.exceptions.InvalidDefinition as err:
            fail_invalid("InvalidDefinition", str(err))
            return 0
        execution = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            input=json.dumps(job["input"]),
        )
        arn = execution["executionArn"]
        seen = 0
        while True:
            status = sfn.describe_execution(executionArn=arn)
            events = history(sfn, arn)
            for ev in events[seen:]:
                emit({"event": ev})
            seen = len(events)
            if status["status"] != "RUNNING":
                break
            time.sleep(0.02)
        result = {"status": status["status"]}
        if status["status"] == "SUCCEEDED":
            result["output"] = json.loads(status.get("output") or "null")
        else:
            result["error"] = status.get("error", "")
            result["cause"] = status.get("cause", "")
        emit({"result": result})
    return 0


def name_lambda_service_errors():
    """Names a Lambda service error as AWS does: "Lambda." + its code
    (Lambda.TooManyRequestsException, Lambda.ServiceException, ...:
    https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html,
    "Lambda errors are reported as Lambda.ErrorName"). moto 5.2.1's
    interpreter names every one of them "Exception", which no Retry of
    ours matches. Function errors (X-Amz-Function-Error) keep their
    errorType."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        state_task_lambda,
    )

    cls = state_task_lambda.StateTaskLambda
    original = cls._from_error

    def _from_error(self, env, ex):
        failure = original(self, env, ex)
        if isinstance(ex, ClientError):
            name = "Lambda." + (ex.response.get("Error", {}).get("Code") or "Unknown")
            failure.error_name = CustomErrorName(name)
            details = (failure.event_details or {}).get("lambdaFunctionFailedEventDetails")
            if details is not None:
                details["error"] = name
        return failure

    cls._from_error = _from_error


def history(sfn, arn):
    events = []
    token = None
    while True:
        kw = {"executionArn": arn, "maxResults": 1000}
        if token:
            kw["nextToken"] = token
        page = sfn.get_execution_history(**kw)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as err:  # the engine itself broke: say so on the protocol
        import traceback

        fail_invalid("EngineError", "".join(traceback.format_exception(err)))
        sys.exit(1)

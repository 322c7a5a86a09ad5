# Runs one Step Functions execution on moto's Step Functions backend, which
# embeds LocalStack's ASL interpreter, in this process (mock_aws), and streams
# the execution's history to stdout as JSON lines {"event": <AWS history
# event>}, then one line {"result": {status, output, error, cause}}: the same
# protocol as engine.cjs. Input: one JSON document on stdin:
# {definition, input, region, retryPauseMs}. With ENGINE_SERVE=1 it runs many
# executions instead, as engine.cjs's serve mode does (see serve below).
#
# Lambda tasks are invoked over HTTP at AWS_ENDPOINT_URL_LAMBDA (the local
# Invoke API); moto lets those requests through by a passthrough rule for
# loopback URLs. retryPauseMs, when set, caps every Retry pause at that many
# milliseconds by replacing the interpreter's sleep (the definition is not
# touched).
import datetime
import json
import os
import queue
import sys
import threading
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


def setup(job, child_histories=False):
    """Configures moto for a run of job: executions run for real, Lambda
    calls pass through to the loopback Invoke API, Retry pauses capped
    (retryPauseMs) or scaled (timeScale), Lambda service errors named as
    AWS names them, and, with child_histories, each Distributed Map child's
    events queued for the driver (record_child_histories). Returns (boto3,
    mock_aws), or None after reporting that moto is missing."""
    try:
        import boto3
        from moto import mock_aws
        from moto.core.config import default_user_config
    except ImportError as err:
        fail_invalid("EngineMissing", f"moto is not importable in {sys.executable}: {err}")
        return None

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    default_user_config["core"]["passthrough"] = {
        "urls": [r"http://127\.0\.0\.1:\d+/.*", r"http://localhost:\d+/.*"],
        "services": [],
    }

    pause_ms = job.get("retryPauseMs")
    scale = float(job.get("timeScale") or 1)
    if pause_ms or scale > 1:
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        real_sleep = time.sleep
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

        if pause_ms:
            cap = pause_ms / 1000.0
            shorten = lambda s: min(s, cap)
        else:
            shorten = lambda s: s / scale
        retrier_decl.time = types.SimpleNamespace(sleep=lambda s: real_sleep(shorten(s)))

        # A Wait state (the deferred files' "Wait before going round")
        # pauses as briefly: moto 5.2.1 waits on the execution's event.
        def short_wait(self, env, wait_seconds):
            if wait_seconds > 0:
                env.program_state_event.wait(shorten(wait_seconds))

        wait_function.WaitFunction._wait_interval = short_wait

    name_lambda_service_errors()
    if child_histories:
        record_child_histories()
    return boto3, mock_aws


def moto_readable(definition):
    """The definition as moto 5.2.1's parser reads it: its ASL grammar takes
    ToleratedFailurePercentage only as a decimal number (100.0), though AWS
    takes any number from 0 to 100 (DescribeMapRun's
    toleratedFailurePercentage is a float), so an integer one is written as
    a float. Nothing else changes."""
    if isinstance(definition, dict):
        return {
            k: float(v) if k == "ToleratedFailurePercentage" and isinstance(v, int) else moto_readable(v)
            for k, v in definition.items()
        }
    if isinstance(definition, list):
        return [moto_readable(v) for v in definition]
    return definition


def create_machine(sfn, job, name="copy-files-to-archive"):
    try:
        return sfn.create_state_machine(
            name=name,
            definition=json.dumps(moto_readable(job["definition"])),
            roleArn="arn:aws:iam::123456789012:role/local-state-machine",
            type="STANDARD",
        )
    except sfn.exceptions.InvalidDefinition as err:
        fail_invalid("InvalidDefinition", str(err))
        return None


def result_of(status):
    result = {"status": status["status"]}
    if status["status"] == "SUCCEEDED":
        result["output"] = json.loads(status.get("output") or "null")
    else:
        result["error"] = status.get("error", "")
        result["cause"] = status.get("cause", "")
    return result


def main():
    if os.environ.get("ENGINE_SERVE") == "1":
        return serve()
    job = json.load(sys.stdin)
    modules = setup(job, child_histories=True)
    if modules is None:
        return 1
    boto3, mock_aws = modules
    region = job.get("region") or "us-east-1"
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=region)
        machine = create_machine(sfn, job)
        if machine is None:
            return 0
        execution = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            input=json.dumps(job["input"]),
        )
        arn = execution["executionArn"]
        seen = 0
        while True:
            # The children's events taken before the parent's history is
            # read, and written after it: a child's events then follow its
            # Map Run's MapRunStarted.
            children = taken_child_events()
            status = sfn.describe_execution(executionArn=arn)
            events = history(sfn, arn)
            for ev in events[seen:]:
                emit({"event": ev})
            seen = len(events)
            for line in children:
                emit(line)
            if status["status"] != "RUNNING":
                for line in taken_child_events():
                    emit(line)
                break
            time.sleep(0.02)
        emit({"result": result_of(status)})
    return 0


def transitions(events):
    """The state transitions Step Functions bills for a history: every state
    entered, and every retry (https://aws.amazon.com/step-functions/pricing/).
    Each of our Task states invokes a Lambda, once per attempt, so its
    retries are its LambdaFunctionScheduled events beyond its entries."""
    entered = sum(1 for ev in events if ev["type"].endswith("StateEntered"))
    tasks = sum(1 for ev in events if ev["type"] == "TaskStateEntered")
    scheduled = sum(1 for ev in events if ev["type"] == "LambdaFunctionScheduled")
    return entered + max(0, scheduled - tasks)


def serve():
    """Many executions in one process (the load runner), as engine.cjs's
    serve mode: the first stdin line is the job without input
    ({definition, timeScale}), each next line {id, input} starts an
    execution; each prints {id, result, transitions, logBytes,
    logBytesByType, childTransitions, mapIterations} when it ends: its own
    transitions, and its Distributed Map children's by Map state name
    (ChildTally), each child's run in mapIterations as engine.cjs gives
    them."""
    job = json.loads(sys.stdin.readline() or "null")
    if not job:
        fail_invalid("EngineError", "no job on stdin")
        return 1
    modules = setup(job, child_histories=True)
    if modules is None:
        return 1
    boto3, mock_aws = modules
    tally = ChildTally()
    # moto 5.2.1 deep-copies the state machine each time it starts an
    # execution; once one runs, something the copy reaches holds a thread
    # lock, which cannot be copied, so a second StartExecution fails. The
    # copy only freezes the definition for the execution, which never
    # changes here: a shallow copy does.
    import copy
    from moto.stepfunctions.parser import models as parser_models

    parser_models.copy = types.SimpleNamespace(deepcopy=lambda x, memo=None: copy.copy(x))
    lines = queue.Queue()

    def read():
        for line in sys.stdin:
            if line.strip():
                lines.put(json.loads(line))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=job.get("region") or "us-east-1")
        machine = create_machine(sfn, job)
        if machine is None:
            return 0
        running = {}
        more = True
        while more or running:
            while more:
                try:
                    msg = lines.get(timeout=0.05 if not running else 0)
                except queue.Empty:
                    break
                if msg is None:
                    more = False
                    break
                execution = sfn.start_execution(
                    stateMachineArn=machine["stateMachineArn"],
                    name=f"load-{msg['id']}",
                    input=json.dumps(msg["input"]),
                )
                running[execution["executionArn"]] = msg["id"]
            tally.take(taken_child_events())
            for arn in list(running):
                status = sfn.describe_execution(executionArn=arn)
                if status["status"] == "RUNNING":
                    continue
                # A child ends before its Map Run, and so before its
                # parent: its events are queued by now.
                tally.take(taken_child_events())
                child_transitions, map_iterations = tally.pop(arn)
                events = history(sfn, arn)
                by_type = {}
                for ev in events:
                    n = len(json.dumps(ev, default=_json_default).encode())
                    by_type[ev["type"]] = by_type.get(ev["type"], 0) + n
                emit({"id": running.pop(arn), "result": result_of(status),
                      "transitions": transitions(events), "logBytes": sum(by_type.values()),
                      "logBytesByType": by_type, "childTransitions": child_transitions,
                      "mapIterations": map_iterations})
            if running:
                time.sleep(0.05)
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


# Events of Distributed Map children, in the order they happened: (child, AWS
# history event) pairs, child = {"map": Map state name, "index": item index}.
child_events = queue.Queue()


class ChildHistory:
    """One Distributed Map child's own history, as AWS keeps one per child
    execution (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html:
    each child workflow execution has its own execution history): moto 5.2.1
    runs a Map Run's children in frames of the parent's interpreter and
    sends all their events to one EventManager it then drops. This one
    numbers a child's events from 1 and queues each for the driver, framed by
    ExecutionStarted and ExecutionSucceeded / ExecutionFailed as a child
    execution's history is (frames write neither)."""

    def __init__(self, child):
        from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

        self.child = child
        self.manager = EventManager()
        self.manager._publish_history_event = self.publish
        self.next_id = 1

    def publish(self, event_id, source_event_id, event_type, timestamp, event_details):
        # add_event passes the timestamp as ISO 8601 text.
        if isinstance(timestamp, str):
            timestamp = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        self.add(event_type, event_details or {}, previous=source_event_id, event_id=event_id, timestamp=timestamp)

    def add(self, event_type, details, previous=None, event_id=None, timestamp=None):
        event = dict(details)
        event["id"] = event_id if event_id is not None else self.manager._event_id_gen.get()
        event["previousEventId"] = previous if previous is not None else event["id"] - 1
        event["type"] = str(getattr(event_type, "value", event_type))
        event["timestamp"] = timestamp or datetime.datetime.now(tz=datetime.timezone.utc)
        child_events.put((self.child, event))


def record_child_histories():
    """Gives each Distributed Map child its own history (ChildHistory)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker,
    )

    cls = worker.DistributedItemProcessorWorker
    original = cls._eval_job

    def _eval_job(self, env, job):
        state = env.states.context_object.context_object_data.get("State") or {}
        # moto runs a child in a frame of its parent: the context
        # object's execution is the parent's.
        parent = (env.states.context_object.context_object_data.get("Execution") or {}).get("Id")
        child = {"map": state.get("Name") or self._map_run_record.map_run_arn, "index": job.job_index, "parent": parent}
        hist = ChildHistory(child)
        env.event_manager = hist.manager
        hist.add("ExecutionStarted", {"executionStartedEventDetails": {"input": json.dumps(job.job_input)}}, previous=0)
        original(self, env, job)
        last = hist.manager._event_id_gen._next_id - 1
        if job.job_output is not None:
            out = {"output": json.dumps(job.job_output)}
            hist.add("ExecutionSucceeded", {"executionSucceededEventDetails": out}, previous=last)
            return
        state = env.program_state()
        error = getattr(state, "error", None) or {}
        hist.add("ExecutionFailed", {"executionFailedEventDetails": {
            "error": error.get("error", "States.Runtime"), "cause": error.get("cause", "")}}, previous=last)

    cls._eval_job = _eval_job


class ChildTally:
    """What the serve mode keeps of each Distributed Map child's events,
    by parent execution: per child its first and last event's time and the
    counts transitions() needs, so that a parent's line can give its
    children's billed transitions and runs without keeping their events."""

    def __init__(self):
        self.children = {}  # (parent, map, index) -> counts and times

    def take(self, lines):
        for line in lines:
            child, event = line["child"], line["event"]
            key = (child.get("parent"), child["map"], child["index"])
            c = self.children.setdefault(key, {"entered": 0, "tasks": 0, "scheduled": 0, "first": None, "last": None, "failed": False})
            typ = event["type"]
            c["entered"] += typ.endswith("StateEntered")
            c["tasks"] += typ == "TaskStateEntered"
            c["scheduled"] += typ == "LambdaFunctionScheduled"
            c["failed"] = c["failed"] or typ == "ExecutionFailed"
            ts = event["timestamp"]
            c["first"] = ts if c["first"] is None else min(c["first"], ts)
            c["last"] = ts if c["last"] is None else max(c["last"], ts)

    def pop(self, parent):
        """The children of parent, forgotten: ({map: transitions},
        {map: [{ms, failed}]}), as engine.cjs's mapIterations."""
        child_transitions, map_iterations = {}, {}
        for key in [k for k in self.children if k[0] == parent]:
            c = self.children.pop(key)
            name = key[1]
            n = c["entered"] + max(0, c["scheduled"] - c["tasks"])
            child_transitions[name] = child_transitions.get(name, 0) + n
            ms = int((c["last"] - c["first"]).total_seconds() * 1000)
            map_iterations.setdefault(name, []).append({"ms": ms, "failed": c["failed"]})
        return child_transitions, map_iterations


def taken_child_events():
    """The children's events queued so far, as protocol lines."""
    lines = []
    while True:
        try:
            child, event = child_events.get_nowait()
        except queue.Empty:
            return lines
        lines.append({"event": event, "child": child})


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

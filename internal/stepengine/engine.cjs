// Runs one Step Functions execution with aws-local-stepfunctions (JS API, so
// Lambda error names survive for Retry/Catch) and streams its event log to
// stdout as JSON lines, then one result line; with ENGINE_SERVE=1, many
// executions (the load runner; see serve below). Input: one JSON document on
// stdin: {definition, input, region, retryIntervalOverrides, waitTimeOverrides}.
// Lambda tasks are invoked through the AWS SDK, which reads
// AWS_ENDPOINT_URL_LAMBDA from the environment. Run with cwd = repository
// root so require() finds node_modules.
'use strict';

// aws-local-stepfunctions 3.x uses Promise.withResolvers (Node >= 22).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

const path = require('node:path');
const { createRequire } = require('node:module');
const requireFromRoot = createRequire(path.join(process.cwd(), 'package.json'));
const { StateMachine } = requireFromRoot('aws-local-stepfunctions');
const lambdaSdk = requireFromRoot('@aws-sdk/client-lambda');

// Report a Lambda function error as Step Functions does in AWS: the error
// name is the function's errorType and the cause is the error payload as JSON
// text ({"errorMessage": ..., "errorType": ...}). The engine would otherwise
// make the cause "errorType: errorMessage", a shape AWS never produces. The
// engine uses this same SDK module, so patching its send() is enough; error
// names, Retry and Catch work as before.
//
// A request the Lambda service itself refuses (throttled: 429
// TooManyRequestsException; 5xx ServiceException; ...) reaches a state
// machine in AWS as "Lambda." + the exception name, e.g.
// Lambda.TooManyRequestsException
// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html);
// the engine would pass the SDK's bare name, which no Retrier matches. The
// SDK's own retries are off (AWS_MAX_ATTEMPTS=1, set by the Go side), so the
// definition's Retry policy is what handles these, as in AWS.
//
// AWS's payload and cause limits, which the engine does not enforce, are
// enforced here so that a local run fails where AWS would
// (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html):
// a task's input or output above 256 KiB fails the execution with
// States.DataLimitExceeded (a terminal error: no Retry or Catch, States.ALL
// included, handles it), and an error's cause is cut at 32,768 characters.
const MAX_PAYLOAD_BYTES = 256 * 1024;
const MAX_CAUSE_CHARS = 32768;

function dataLimitExceeded(message) {
  const err = new Error(message);
  err.name = 'States.DataLimitExceeded';
  err.isRetryable = false;
  err.isCatchable = false;
  return err;
}

function cutCause(text) {
  if (text.length <= MAX_CAUSE_CHARS) return text;
  return Array.from(text).slice(0, MAX_CAUSE_CHARS).join('');
}

function payloadBytes(value) {
  if (value === undefined) return 0;
  if (value instanceof Uint8Array) return value.byteLength;
  return Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
}

const originalSend = lambdaSdk.LambdaClient.prototype.send;
lambdaSdk.LambdaClient.prototype.send = async function send(command, ...rest) {
  if (command instanceof lambdaSdk.InvokeCommand) {
    const size = payloadBytes(command.input.Payload);
    if (size > MAX_PAYLOAD_BYTES) {
      throw dataLimitExceeded(`the input of the task invoking ${command.input.FunctionName} is ${size} bytes, more than the ${MAX_PAYLOAD_BYTES} bytes a state may take`);
    }
  }
  let out;
  try {
    out = await originalSend.call(this, command, ...rest);
  } catch (err) {
    if (command instanceof lambdaSdk.InvokeCommand) this.destroy();
    if (command instanceof lambdaSdk.InvokeCommand && err instanceof lambdaSdk.LambdaServiceException) {
      const status = err.$metadata && err.$metadata.httpStatusCode;
      const named = new Error(`${err.message} (Service: AWSLambda; Status Code: ${status}; Error Code: ${err.name})`);
      named.name = `Lambda.${err.name}`;
      throw named;
    }
    if (command instanceof lambdaSdk.InvokeCommand) {
      // No answer from Lambda at all (connection refused or reset, a
      // timeout): Step Functions reports Lambda.SdkClientException.
      const named = new Error(`Unable to execute HTTP request: ${err.message || err}`);
      named.name = 'Lambda.SdkClientException';
      throw named;
    }
    throw err;
  }
  // The engine makes a client for each task it runs and sends it one
  // Invoke: its keep-alive socket would stay open for the process's life
  // (a load run of 10,000 files ran out of file descriptors).
  if (command instanceof lambdaSdk.InvokeCommand) this.destroy();
  if (command instanceof lambdaSdk.InvokeCommand && out && out.FunctionError) {
    const text = out.Payload ? new TextDecoder().decode(out.Payload) : '';
    let payload;
    try {
      payload = JSON.parse(text);
    } catch {
      payload = { errorMessage: text, errorType: 'Lambda.Unknown' };
    }
    const err = new Error(cutCause(JSON.stringify(payload)));
    err.name = (payload && payload.errorType) || 'Lambda.Unknown';
    throw err;
  }
  if (command instanceof lambdaSdk.InvokeCommand && out) {
    const size = payloadBytes(out.Payload);
    if (size > MAX_PAYLOAD_BYTES) {
      throw dataLimitExceeded(`the output of ${command.input.FunctionName} is ${size} bytes, more than the ${MAX_PAYLOAD_BYTES} bytes a state may return`);
    }
  }
  return out;
};

// Each event inside a Map iteration gets mapPath: the Map iterations it
// happened in, outermost first ([{map, index}, ...]; a Map iteration's own
// events end with that iteration). The engine forwards an iteration's events
// to the Map's execution level by level and keeps one index only (the outer
// one for state events, the inner one for iteration events), which does not
// tell nested Maps apart: a Distributed Map child's inline Map, for one. A
// Distributed Map runs inline here, so its child's events come in this same
// log, each path starting with the child. The event logger's class is not
// exported: it is reached through the first execution's options.
let eventLoggerPatched = false;
const originalExecute = StateMachine.prototype.execute;
StateMachine.prototype.execute = function execute(input, options, ...rest) {
  if (!eventLoggerPatched && options && options.eventLogger) {
    eventLoggerPatched = true;
    const proto = Object.getPrototypeOf(options.eventLogger);
    const forward = proto.forwardNestedMapEvent;
    proto.forwardNestedMapEvent = function forwardNestedMapEvent(event, index, mapStateName, ...args) {
      const mapPath = [{ map: mapStateName, index }, ...(event.mapPath || [])];
      return forward.call(this, { ...event, mapPath }, index, mapStateName, ...args);
    };
  }
  return originalExecute.call(this, input, options, ...rest);
};

function emit(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

// Map iteration events repeat the Map state's whole input; drop it.
function slim(event) {
  if (event.parentState && 'input' in event.parentState) {
    const { input, ...parent } = event.parentState;
    return { ...event, parentState: parent };
  }
  return event;
}

// The readable cause of a runtime error: a Lambda error's errorMessage, a Fail
// state's Cause, else the error's message.
function causeOf(err) {
  if (err && err.cause && typeof err.cause === 'object' && 'errorMessage' in err.cause) {
    return String(err.cause.errorMessage);
  }
  if (err && typeof err.cause === 'string') return err.cause;
  const message = err && err.message ? String(err.message) : String(err);
  try {
    const payload = JSON.parse(message);
    if (payload && typeof payload.errorMessage === 'string') return payload.errorMessage;
  } catch {
    // not a Lambda error payload
  }
  return message;
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

// A Choice rule's type test with false (`"IsNull": false`: the value is not
// null) matches when the test fails, in AWS
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html,
// "IsNull": "true" or "false"). aws-local-stepfunctions 3.0 returns
// `test && ...`, so with false it never matches. The definition the engine
// gets says the same with Not ({"Not": {"Variable", "IsNull": true}}),
// which it evaluates as AWS does; the deployed definition is unchanged.
const TYPE_TESTS = ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp'];

function negatedTypeTests(rule) {
  if (!rule || typeof rule !== 'object' || Array.isArray(rule)) return rule;
  const out = { ...rule };
  for (const k of ['And', 'Or']) {
    if (Array.isArray(out[k])) out[k] = out[k].map(negatedTypeTests);
  }
  if (out.Not) out.Not = negatedTypeTests(out.Not);
  const test = TYPE_TESTS.find((t) => out[t] === false);
  if (!test) return out;
  const { Variable, [test]: _false, ...rest } = out;
  return { ...rest, Not: { Variable, [test]: true } };
}

function withChoiceFixes(node) {
  if (Array.isArray(node)) return node.map(withChoiceFixes);
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = withChoiceFixes(v);
  if (out.Type === 'Choice' && Array.isArray(out.Choices)) out.Choices = out.Choices.map(negatedTypeTests);
  return out;
}

function newMachine(job) {
  return new StateMachine(withChoiceFixes(job.definition), {
    validationOptions: job.validationOptions || {},
    awsConfig: {
      region: job.region || 'us-east-1',
      credentials: { accessKeys: { accessKeyId: 'local', secretAccessKey: 'local' } },
    },
  });
}

// Runs one execution, passing each event to onEvent, and returns its result
// ({status, output} or {status, error, cause}).
async function runExecution(machine, job, input, onEvent) {
  const execution = machine.run(input, {
    overrides: {
      retryIntervalOverrides: job.retryIntervalOverrides || {},
      waitTimeOverrides: job.waitTimeOverrides || {},
    },
    // aws-local-stepfunctions 3.0 has no $$.State, so the definition's
    // "$$.State.RetryCount" would fail the path. AWS documents it
    // (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html);
    // this engine gets a constant 0: the copy never takes a retry for its
    // last attempt and keeps a resumed upload, as before RetryCount was
    // used (the moto engine and AWS count for real).
    context: { State: { RetryCount: 0 } },
  });
  const stop = () => execution.abort();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    // A state whose input or output (a Map's list of iteration results, a
    // Pass state's) exceeds the payload limit stops the execution, as
    // States.DataLimitExceeded would in AWS.
    let limitError = null;
    const checkPayload = (event) => {
      if (limitError || !event.state || (event.type !== 'StateEntered' && event.type !== 'StateExited')) return;
      const [what, value] = event.type === 'StateEntered' ? ['input', event.state.input] : ['output', event.state.output];
      const size = payloadBytes(value);
      if (size > MAX_PAYLOAD_BYTES) {
        limitError = dataLimitExceeded(`the ${what} of state "${event.state.name}" is ${size} bytes, more than the ${MAX_PAYLOAD_BYTES} bytes a state may carry`);
        execution.abort();
      }
    };
    const pump = (async () => {
      for await (const event of execution.eventLogs) {
        checkPayload(event);
        onEvent(event);
      }
    })();

    try {
      const output = await execution.result;
      await pump;
      if (limitError) throw limitError;
      return { status: 'SUCCEEDED', output };
    } catch (err) {
      await pump.catch(() => {});
      if (limitError) {
        return { status: 'FAILED', error: limitError.name, cause: limitError.message };
      }
      let error = err && err.name ? err.name : 'Error';
      let cause = causeOf(err);
      if (err && err.name === 'ExecutionError' && err.cause) {
        error = err.cause.name || 'Error';
        cause = causeOf(err.cause);
      } else if (err && err.name === 'ExecutionTimeoutError') {
        error = 'States.Timeout';
        cause = 'the execution timed out';
      } else if (err && err.name === 'ExecutionAbortedError') {
        error = 'ExecutionAborted';
        cause = 'the execution was aborted';
      }
      return { status: 'FAILED', error, cause: cutCause(cause) };
    }
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

async function main() {
  if (process.env.ENGINE_SERVE === '1') return serve();
  const job = await readStdin();
  let machine;
  try {
    machine = newMachine(job);
  } catch (err) {
    emit({ result: { status: 'INVALID', error: 'InvalidDefinition', cause: String(err.message || err) } });
    return;
  }
  const result = await runExecution(machine, job, job.input, (event) => emit({ event: slim(event) }));
  emit({ result });
}

// asLogged is an event as the state machine's log would hold it: an error
// event (a state's failure, retry or catch, a Map iteration's failure)
// without the inputs and outputs of its state and parent state and without
// the Retry / Catch definition, as AWS logs a TaskFailed,
// LambdaFunctionFailed or MapIterationFailed event with its error and cause
// only. A retried failure is a StateFailed (with its cause) and a
// StateRetried event here, as AWS logs its failure events.
function asLogged(withPath) {
  // mapPath is this driver's (see forwardNestedMapEvent above): AWS logs no
  // such field.
  const { mapPath, ...event } = withPath;
  if (!['StateFailed', 'StateRetried', 'StateCaught', 'MapIterationFailed', 'ParallelBranchFailed'].includes(event.type)) return event;
  const { state, parentState, retry, catch: caught, ...logged } = event;
  if (state) logged.state = { name: state.name, type: state.type };
  if (parentState) logged.parentState = { name: parentState.name, type: parentState.type };
  if (retry) logged.retry = { attempt: retry.attempt };
  return logged;
}

// countIteration records a Map iteration's run: at its start its timestamp,
// at its end {ms, failed} under the Map state's name in mapIterations. The
// Node engine runs a Distributed Map's children inline, so their starts and
// ends are these events (the load runner bills Express children from them).
function countIteration(event, started, mapIterations) {
  if (!event.type.startsWith('MapIteration') || !event.parentState) return;
  const key = `${event.parentState.name}\u0000${event.index}`;
  if (event.type === 'MapIterationStarted') {
    (started[key] = started[key] || []).push(event.timestamp);
    return;
  }
  const begun = (started[key] || []).shift();
  const runs = (mapIterations[event.parentState.name] = mapIterations[event.parentState.name] || []);
  runs.push({ ms: begun === undefined ? 0 : event.timestamp - begun, failed: event.type === 'MapIterationFailed' });
}

// Many executions in one process (the load runner): the first stdin line is
// the job without input ({definition, retryIntervalOverrides, timeScale}),
// each next line {id, input} starts an execution at once. Each execution
// prints one line when it ends: {id, result, transitions, logBytes,
// logBytesByType, transitionsByState, mapIterations} (the size of its event
// log, with inputs and outputs, in all and by event type; the transitions
// by state name; each Map iteration's duration by Map state), transitions
// counting what Step Functions bills (every state entered, and every retry:
// https://aws.amazon.com/step-functions/pricing/). With timeScale > 1 every
// timer of the engine runs that many times faster (Retry pauses with their
// backoff, MaxDelaySeconds cap and jitter; Wait states; task timeouts, which
// the caller lengthens in the definition by the same factor): the
// definition's own timing, in scaled time.
async function serve() {
  // Each running execution listens for SIGTERM/SIGINT to abort itself.
  process.setMaxListeners(0);
  const rl = require('node:readline').createInterface({ input: process.stdin, crlfDelay: Infinity });
  let job = null;
  let machine = null;
  const running = [];
  for await (const line of rl) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line);
    if (job === null) {
      job = msg;
      const scale = Number(job.timeScale) || 1;
      if (scale > 1) {
        const realSetTimeout = globalThis.setTimeout;
        globalThis.setTimeout = (fn, ms, ...args) => realSetTimeout(fn, (Number(ms) || 0) / scale, ...args);
      }
      try {
        machine = newMachine(job);
      } catch (err) {
        emit({ result: { status: 'INVALID', error: 'InvalidDefinition', cause: String(err.message || err) } });
        return;
      }
      continue;
    }
    running.push((async () => {
      let transitions = 0;
      let logBytes = 0;
      const logBytesByType = {};
      const transitionsByState = {};
      const mapIterations = {};
      const iterationStart = {};
      const result = await runExecution(machine, job, msg.input, (event) => {
        if (event.type === 'StateEntered' || event.type === 'StateRetried') {
          transitions++;
          const name = event.state && event.state.name;
          transitionsByState[name] = (transitionsByState[name] || 0) + 1;
        }
        countIteration(event, iterationStart, mapIterations);
        const n = Buffer.byteLength(JSON.stringify(asLogged(event)), 'utf8');
        logBytes += n;
        logBytesByType[event.type] = (logBytesByType[event.type] || 0) + n;
      });
      emit({ id: msg.id, result, transitions, logBytes, logBytesByType, transitionsByState, mapIterations });
    })());
  }
  await Promise.all(running);
}

main().catch((err) => {
  emit({ result: { status: 'INVALID', error: 'EngineError', cause: String((err && err.stack) || err) } });
  process.exitCode = 1;
});

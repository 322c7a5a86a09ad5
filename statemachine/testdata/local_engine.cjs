// Runs a definition on aws-local-stepfunctions (the local engine's JS API)
// with every Task state answered from a script, and prints the execution's
// status, output and the invocations made as JSON. The Node counterpart of
// history_moto.py, with the same script format.
//
// Usage: node local_engine.cjs DEFINITION.json INPUT_JSON SCRIPT_JSON
// (cwd: the statemachine package, so ../node_modules has the engine).
//
// SCRIPT_JSON maps "copy-file" or "request-status:<operation>" to the
// answers of its invocations, in order: {"error": "ErrorType"} fails the
// invocation with that error name, {"result": {...}} returns the result.
// Used by statemachine's TestExpressChildSkipsAnAlreadyCopiedFile.
'use strict';

// aws-local-stepfunctions 3.x uses Promise.withResolvers (Node >= 22).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

const fs = require('node:fs');
const path = require('node:path');
const { StateMachine } = require(path.resolve('..', 'node_modules', 'aws-local-stepfunctions'));

const [definitionPath, input, scriptText] = process.argv.slice(2);
const definition = JSON.parse(fs.readFileSync(definitionPath, 'utf8'));
const script = JSON.parse(scriptText);
const calls = [];

// answer pops the next scripted answer of the function resource names.
function answer(resource, payload) {
  let key = resource.split(':').pop();
  if (payload && payload.operation) key += ':' + payload.operation;
  calls.push(key);
  const next = (script[key] || []).shift();
  if (!next) throw Object.assign(new Error('no answer left for ' + key), { name: 'UnscriptedCall' });
  if (next.error) throw Object.assign(new Error('stand-in failure'), { name: next.error });
  return next.result;
}

// handlers answers each Task state of list and its ItemProcessors, by name.
function handlers(list, out = {}) {
  for (const [name, st] of Object.entries(list.States)) {
    if (st.Type === 'Task') out[name] = async (payload) => answer(st.Resource, payload);
    if (st.ItemProcessor) handlers(st.ItemProcessor, out);
  }
  return out;
}

(async () => {
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: false } });
  let status = 'SUCCEEDED', output = null;
  try {
    output = JSON.stringify(await machine.run(JSON.parse(input), { overrides: { taskResourceLocalHandlers: handlers(definition) } }).result);
  } catch (e) {
    status = 'FAILED';
    output = String(e);
  }
  const left = Object.fromEntries(Object.entries(script).filter(([, v]) => v.length).map(([k, v]) => [k, v.length]));
  process.stdout.write(JSON.stringify({ status, output, calls, unused_answers: left }) + '\n');
})();

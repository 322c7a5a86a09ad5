package statemachine

// LogLevel is the state machine's CloudWatch Logs level, which infra
// deploys (with execution data) and the load runner counts the log bytes
// at. ERROR logs the error events only (a task failed, retried or not; a
// Map iteration or the execution failed), with their causes; the
// execution's whole history stays in Step Functions for a Standard
// workflow, free, where the operators' commands read it
// (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html:
// "Standard Workflows record execution history in AWS Step Functions,
// although you can optionally configure logging to Amazon CloudWatch
// Logs"). ALL logged every event with its input and output: about 11 KB
// per small file, the largest log item (docs/concurrency.md, "Cost per
// file").
const LogLevel = "ERROR"

// Package localrun runs the copy workflow on one machine: the state machine
// definition from statemachine/ on the aws-local-stepfunctions engine (Node),
// its Lambda tasks served in-process by the functions' own handlers through
// the Lambda Invoke API, against an S3-compatible endpoint and a Postgres
// that are either given or started here (versitygw, PGlite).
package localrun

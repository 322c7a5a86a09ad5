// Package execution runs and shows one execution of the copy workflow: the
// definition rendered with cdk.json's settings on a step engine, its Lambda
// tasks served by the functions' handlers behind a local Invoke API, and the
// history printed as it happens (Runner, Execute, History).
package execution

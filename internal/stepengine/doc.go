// Package stepengine runs a state machine definition on a local Step
// Functions engine: aws-local-stepfunctions under Node (Node) or the ASL
// interpreter inside moto under Python (Moto), both behind Engine and both
// reporting the same Event log; Server runs many executions of one
// definition in one engine process (the load simulator's).
package stepengine

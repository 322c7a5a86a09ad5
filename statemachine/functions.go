package statemachine

// Function is one of the workflow's Lambda functions: the one list that the
// definition's placeholders (Settings.FunctionARNs), the CDK app and the
// local runner iterate. Adding a Lambda-backed state means adding it here,
// a functions/<Name>/main.go, its package's NewHandlerFromEnv, its state in
// definition.asl.json and its constructor in the local runner.
type Function struct {
	// Name is the folder under functions/ it is built from, the name the
	// CDK app deploys it under (with a prefix) and the name the local
	// Invoke API serves it by.
	Name string
	// ARNPlaceholder is the definition's "${...}" placeholder for its ARN.
	ARNPlaceholder string
	// TimeoutSecs is its timeout, as deployed and as the local runner
	// enforces it (see CopyFunctionTimeoutSecs).
	TimeoutSecs int
	// ConstructID is its CDK construct id (part of the deployed resources'
	// logical ids: changing it replaces the function).
	ConstructID string
	// Description is the deployed function's description.
	Description string
	// MemoryMB is the deployed function's memory.
	MemoryMB int
}

// The Lambda function names.
const (
	FunctionParseEvent    = "parse-event"
	FunctionRequestStatus = "request-status"
	FunctionCopyFile      = "copy-file"
	FunctionAggregate     = "aggregate"
)

// Functions lists the workflow's Lambdas, in the order the state machine
// first calls them (the order the CDK app creates them in).
var Functions = []Function{
	{
		Name: FunctionParseEvent, ARNPlaceholder: "ParseEventFunctionArn", TimeoutSecs: FunctionTimeoutSecs,
		ConstructID: "ParseEvent", MemoryMB: 256,
		Description: "Reads the restored files from an S3 or EventBridge restore event",
	},
	{
		Name: FunctionRequestStatus, ARNPlaceholder: "RequestStatusFunctionArn", TimeoutSecs: FunctionTimeoutSecs,
		ConstructID: "RequestStatus", MemoryMB: 256,
		Description: "Finds a file's open job in request_status and records the copy's outcome",
	},
	{
		Name: FunctionCopyFile, ARNPlaceholder: "CopyFileFunctionArn", TimeoutSecs: CopyFunctionTimeoutSecs,
		// 1,769 MB is one vCPU ("the equivalent of one vCPU (one vCPU-second
		// of credits per second)",
		// https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
		// The copier's own CPU time, 0.23 ms per part
		// copy (0.77 ms with a TLS handshake per connection), comes in a
		// burst at each wave of 256 parts and stays a few per cent of a
		// 0.5 s wave only with a whole vCPU (shared/copyfile/BENCHMARKS.md,
		// "The copier's CPU and the Lambda's memory").
		ConstructID: "CopyFile", MemoryMB: 1769,
		Description: "Copies one restored object server-side to its archive bucket (multipart above the threshold)",
	},
	{
		Name: FunctionAggregate, ARNPlaceholder: "AggregateFunctionArn", TimeoutSecs: FunctionTimeoutSecs,
		ConstructID: "Aggregate", MemoryMB: 256,
		Description: "Reports one result per file; fails with CopyRequestError when any file failed",
	},
}

// FunctionReconcile is the scheduled reconcile sweep (functions/reconcile):
// a Lambda of the system but no state of the definition, so it is not in
// Functions (which the definition's placeholders, the local Invoke API and
// the workflow's invoke permissions iterate). The CDK app deploys it beside
// them (infra/reconcile.go); the local runner runs it as `cmd/local
// reconcile`.
const FunctionReconcile = "reconcile"

// OtherFunctions are the folders under functions/ that are not in
// Functions.
var OtherFunctions = []string{FunctionReconcile}

// FunctionNames returns the names of Functions, in order.
func FunctionNames() []string {
	names := make([]string, len(Functions))
	for i, f := range Functions {
		names[i] = f.Name
	}
	return names
}

package statemachine

// Function is one of the workflow's Lambda functions: the one list that the
// definition's placeholders (Settings.FunctionARNs), the CDK app and the
// local runner iterate. Adding a Lambda-backed state means adding it here,
// a functions/<Name>/main.go, its package's NewHandlerFromEnv, its state in
// definition.asl.json and its constructor in the local runner.
type Function struct {
	// Name is the name the CDK app deploys it under (with a prefix) and
	// the name the local Invoke API serves it by.
	Name string
	// Source is the folder under functions/ it is built from, when not
	// Name (two deployments of the same code: see Folder).
	Source string
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
	// FunctionCopyFileExpress is copy-file's code deployed a second time,
	// at the memory the Express lane's small copies need.
	FunctionCopyFileExpress = "copy-file-express"
	FunctionAggregate       = "aggregate"
)

// Folder is the folder under functions/ the function is built from: Source,
// else Name.
func (f Function) Folder() string {
	if f.Source != "" {
		return f.Source
	}
	return f.Name
}

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
		// After copy-file, whose role and log group the CDK app gives it
		// (one principal for the archive buckets' policies, one log group
		// for the copies' lines and metrics).
		Name: FunctionCopyFileExpress, Source: FunctionCopyFile, ARNPlaceholder: "CopyFileExpressFunctionArn",
		// The same code: its task gives up at ExpressCopyTaskTimeoutSeconds
		// anyway, and the copy returns within time_budget_secs.
		TimeoutSecs: CopyFunctionTimeoutSecs,
		// See ExpressCopyMemoryMB.
		ConstructID: "CopyFileExpress", MemoryMB: ExpressCopyMemoryMB,
		Description: "Copies one restored object for the Express lane (copy-file's code; a multipart copy pauses and goes on in the Standard lane)",
	},
	{
		Name: FunctionAggregate, ARNPlaceholder: "AggregateFunctionArn", TimeoutSecs: FunctionTimeoutSecs,
		ConstructID: "Aggregate", MemoryMB: 256,
		Description: "Reports one result per file; fails with CopyRequestError when any file failed",
	},
}

// ExpressCopyMemoryMB is copy-file-express's memory, from issue 24's figure
// (docs/concurrency.md, `make bench-figure`): a small copy whose event
// gives its size and ETag is one S3 request, CopyObject (no HeadObject of
// the source before it, copyfile.copyFromEvent; none of the archive after
// it when its ETag proves the copy), 139 ms billed on the calibrated S3
// model (about 290 ms with the source's HeadObject, 390 ms with the
// archive's too), nearly all of it waiting on S3, so the bill is nearly
// proportional to the memory: at 390 ms, 0.680 GB-s a copy at 1,769 MB
// ($9.07 per million files), 0.099 at 256 MB ($1.32), 0.049 at 128 MB
// ($0.66); at 139 ms and 128 MB, Lambda's least
// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html),
// 0.017 GB-s ($0.23).
// Lambda gives CPU in proportion to memory, one vCPU at 1,769 MB (same
// page), which the local runner does not enforce: at 128 MB, 128/1769 =
// 0.072 vCPU. The whole test process (every Lambda, the Invoke API, the S3
// model, the proxy) used 3.3 ms of CPU a file, an upper bound on one
// copy's, which takes at most 46 ms there: (139 + 46) ms x 0.125 GB =
// 0.023 GB-s, at most $0.31 per million files at arm64's $0.0000133334 a
// GB-s. The Express lane also starts multipart copies, which pause at
// time_budget_secs and go on in the Standard lane at 1,769 MB: their part
// waves (0.23 ms of CPU a part, 256 a wave: shared/copyfile/BENCHMARKS.md)
// take up to 0.8 s a wave at 128 MB (2.7 s for the first, whose
// connections shake hands: 0.77 ms a part), well within the 45 s budget,
// and their memory (a connection and a goroutine a part, a few MB a wave)
// is far below 128 MB. Init is billed too, once per environment (about
// one for every hundred copies in the figure's run).
const ExpressCopyMemoryMB = 128

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

// Folders returns the folders under functions/ that Functions are built
// from, each once, in the order of Functions.
func Folders() []string {
	var folders []string
	seen := map[string]bool{}
	for _, f := range Functions {
		if !seen[f.Folder()] {
			seen[f.Folder()] = true
			folders = append(folders, f.Folder())
		}
	}
	return folders
}

// FunctionNames returns the names of Functions, in order.
func FunctionNames() []string {
	names := make([]string, len(Functions))
	for i, f := range Functions {
		names[i] = f.Name
	}
	return names
}

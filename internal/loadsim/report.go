package loadsim

// LoadReport is how a load run went: the --json document.
type LoadReport struct {
	// Executions counts the Standard executions the intake started, one
	// per batch of events (their Distributed Map children apart).
	Executions struct {
		Started   int `json:"started"`
		Succeeded int `json:"succeeded"`
		Failed    int `json:"failed"`
	} `json:"executions"`
	// Failures counts the failed executions by error name.
	Failures map[string]int `json:"failures"`
	// Failed lists every failed execution, with its events' lines, its
	// failed files (each with its event's line and its reason) and its
	// re-run input (failed_report.go).
	Failed []FailedExecution `json:"failed"`
	// Files are the events' files by the status of their newest
	// request_status row after the run; NoJob those with no row at all.
	Files struct {
		Total      int `json:"total"`
		Complete   int `json:"complete"`
		Error      int `json:"error"`
		Unrecorded int `json:"unrecorded"`
		NoJob      int `json:"no_job"`
	} `json:"files"`
	// Intake is how the stand-in queue and Pipe batched the events and
	// what they were called (intake.go).
	Intake struct {
		PipeSettings
		IntakeCalls
	} `json:"intake"`
	Throttles            int            `json:"throttles"`
	ThrottlesPerFunction map[string]int `json:"throttles_per_function"`
	PeakEnvironments     int            `json:"peak_environments"`
	Environments         map[string]int `json:"environments"`
	PeakInFlight         int            `json:"peak_invocations_in_flight"`
	// PeakDBConnections is the most sessions of the Lambdas' role seen at
	// once (sampled every 20 ms); not measured (0) on PGlite: DBSessions
	// says which.
	PeakDBConnections  int     `json:"peak_db_connections"`
	DBSessionsMeasured bool    `json:"db_sessions_measured"`
	DBSessions         string  `json:"db_sessions"`
	Seconds            float64 `json:"seconds"`
	FilesPerSecond     float64 `json:"files_per_second"`
	// TimeScale is the run's time scale: multiply Seconds by it for the
	// scaled duration.
	TimeScale float64 `json:"time_scale"`

	// PerFile is what the run used per file, in billed units, counted from
	// what happened: the engine's events (billing.go), the intake's calls,
	// the Invoke API, the S3 requests served and the logs written.
	PerFile BilledUnits `json:"per_file"`

	// StepFunctionsCounted says whose states the transitions count: the
	// parents' and the children's (both engines: Node runs the children
	// inline, moto's serve mode reads each child's own history).
	StepFunctionsCounted string `json:"step_functions_counted"`
	// LogBytesPerFileBySource splits PerFile.LogBytes: each function's
	// lines with its platform lines (logbytes.go), and the state machine's
	// log (LogSourceStateMachine).
	LogBytesPerFileBySource map[string]float64 `json:"log_bytes_per_file_by_source"`
	// CostItems splits the cost per million files by billed item.
	CostItems              map[string]float64 `json:"cost_items_per_million_files_usd"`
	CostPerMillionFilesUSD float64            `json:"cost_per_million_files_usd"`
	Prices                 []Price            `json:"prices"`
	// Functions is each function's share of the Lambda figures: its
	// GB-seconds are its billed milliseconds times its deployed memory.
	Functions map[string]FunctionUsage `json:"functions"`
	// S3 is the S3 peer the Lambdas ran against: "model" (the calibrated
	// S3 model, durations as on AWS) or "endpoint" (versitygw or
	// AWS_ENDPOINT_URL_S3, loopback durations).
	S3 string `json:"s3"`
	// S3Operations counts the Lambdas' S3 requests by operation (the model
	// only: nil otherwise).
	S3Operations map[string]int `json:"s3_operations,omitempty"`
}

// FunctionUsage is one function's Lambda usage in a load run.
type FunctionUsage struct {
	// MemoryMB is the function's deployed memory (statemachine.Functions).
	MemoryMB int `json:"memory_mb"`
	// Requests counts the invocations whose handler ran.
	Requests int `json:"requests"`
	// BilledMs is the invocations' durations, each rounded up to the
	// millisecond as Lambda bills them, added up.
	BilledMs int64 `json:"billed_ms"`
	// GBSeconds is BilledMs/1000 x MemoryMB/1024.
	GBSeconds float64 `json:"gb_seconds"`
}

package loadsim

import (
	"encoding/json"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

// What CloudWatch Logs ingests from the workflow, counted as a deployed
// stack would send it:
//
//   - each function's JSON lines, as the function writes them (the local
//     runner's "function" attribute, which names the function in its one log
//     file, is not counted: in AWS each function has its own log group);
//   - Lambda's platform lines per invocation at the deployed system log
//     level (lambdafn.SystemLogLevel): at INFO a platform.start and a
//     platform.report line, at WARN neither
//     (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html:
//     "with this setting [INFO] Lambda automatically sends start and report
//     log messages"). Their shape is the Telemetry API's event
//     (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html),
//     with the X-Ray tracing member active tracing adds;
//   - the state machine's log at its deployed level (statemachine.LogLevel):
//     the engine's events of the types that level keeps, each as the
//     engine's JSON (AWS's log lines add the execution ARN and a few ids,
//     so this counts somewhat less than AWS would).
//
// The platform lines of an environment's start (platform.initStart,
// platform.initReport) are not counted: one per environment, not per file.

// LogSourceStateMachine names the state machine's log in
// LoadReport.LogBytesPerFileBySource; the others are function names.
const LogSourceStateMachine = "state-machine"

// functionLog counts one function's log lines and passes them on to the
// runner's one log with the function named in each line.
type functionLog struct {
	name string
	sink *lockedWriter
	n    atomic.Int64
}

// Write takes one JSON line (slog's JSON handler writes a record in one
// call).
func (f *functionLog) Write(p []byte) (int, error) {
	f.n.Add(int64(len(p)))
	if f.sink == nil || f.sink.w == nil {
		return len(p), nil
	}
	if len(p) > 1 && p[0] == '{' {
		line := make([]byte, 0, len(p)+len(f.name)+16)
		line = append(line, `{"function":`...)
		line, _ = appendJSONString(line, f.name)
		if p[1] != '}' {
			line = append(line, ',')
		}
		line = append(line, p[1:]...)
		if _, err := f.sink.Write(line); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return f.sink.Write(p)
}

func appendJSONString(b []byte, s string) ([]byte, error) {
	q, err := json.Marshal(s)
	return append(b, q...), err
}

// lockedWriter serializes the functions' lines into one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// platformBytesPerInvocation is the size of the platform lines Lambda
// writes for one invocation of a function of memoryMB at systemLevel, in
// the JSON log format with active tracing (infra/function.go). The figures
// in the lines are typical values of their width.
func platformBytesPerInvocation(systemLevel string, memoryMB int) int64 {
	switch strings.ToUpper(systemLevel) {
	case "DEBUG", "INFO":
	default:
		return 0
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 123000000, time.UTC).Format("2006-01-02T15:04:05.000Z")
	const requestID = "8f5a6b1c-2d3e-4f50-8a7b-9c0d1e2f3a4b"
	tracing := map[string]string{"spanId": "1b2c3d4e5f607182", "type": "X-Amzn-Trace-Id",
		"value": "Root=1-6772c0d0-0123456789abcdef01234567;Parent=1b2c3d4e5f607182;Sampled=1"}
	start := map[string]any{"time": now, "type": "platform.start",
		"record": map[string]any{"requestId": requestID, "version": "$LATEST", "tracing": tracing}}
	report := map[string]any{"time": now, "type": "platform.report",
		"record": map[string]any{"requestId": requestID, "status": "success", "tracing": tracing,
			"metrics": map[string]any{"durationMs": 123.456, "billedDurationMs": 124, "memorySizeMB": memoryMB, "maxMemoryUsedMB": 45}}}
	var n int64
	for _, line := range []any{start, report} {
		b, _ := json.Marshal(line)
		n += int64(len(b)) + 1
	}
	return n
}

// deployedSystemLogLevel is the system log level the runner counts the
// platform lines at: the one infra deploys.
var deployedSystemLogLevel = lambdafn.SystemLogLevel

// stateMachineLogBytes is the size of the events of one execution that
// the state machine's log keeps at level (statemachine.LogLevel): all at
// ALL, the error events at ERROR, the execution's own failure at FATAL
// (https://docs.aws.amazon.com/step-functions/latest/dg/cloudwatch-log-level.html).
func stateMachineLogBytes(line stepengine.Ended, level string) int64 {
	if line.LogBytesByType == nil || strings.EqualFold(level, "ALL") {
		return line.LogBytes
	}
	var n int64
	for eventType, bytes := range line.LogBytesByType {
		if loggedAt(level, eventType) {
			n += bytes
		}
	}
	return n
}

// loggedAt says whether the state machine's log keeps an event of
// eventType at level. Error events are AWS's *Failed, *TimedOut and
// *Aborted types (TaskFailed, LambdaFunctionFailed, MapIterationFailed,
// ExecutionFailed, ...); aws-local-stepfunctions names them StateFailed,
// ExecutionTimeout, and a failure retried or caught StateRetried and
// StateCaught.
func loggedAt(level, eventType string) bool {
	execution := strings.HasPrefix(eventType, "Execution")
	failure := strings.HasSuffix(eventType, "Failed") || strings.HasSuffix(eventType, "TimedOut") ||
		strings.HasSuffix(eventType, "Timeout") || strings.HasSuffix(eventType, "Aborted")
	switch strings.ToUpper(level) {
	case "ALL":
		return true
	case "ERROR":
		return failure || eventType == "StateRetried" || eventType == "StateCaught"
	case "FATAL":
		return execution && failure
	}
	return false
}

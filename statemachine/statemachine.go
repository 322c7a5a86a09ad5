// Package statemachine renders the copy workflow's Step Functions definition,
// statemachine/definition.asl.json, with the function ARNs and the retry,
// concurrency and timeout settings. The CDK app deploys what Render returns and
// the local runner runs the same bytes, so what is tested is what is deployed.
//
// The package imports nothing from the CDK: infra/cdkcontext reads Settings
// from cdk.json's "context" for both the CDK app and the local runner, so a
// local run uses the same policy as a deploy.
package statemachine

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// definition is the workflow in JSONPath ASL, with "${Name}" placeholders for
// the values Settings provides.
//
//go:embed definition.asl.json
var definition []byte

// Settings are the values the definition leaves open: the function ARNs
// and the workflow's policy (concurrency, retries, timeouts).
type Settings struct {
	// FunctionARNs maps each of Functions, by Name, to its ARN (CDK passes
	// tokens, the local runner plain ARNs).
	FunctionARNs map[string]string

	// MapMaxConcurrency is how many Standard lane children one execution
	// runs at once (context mapMaxConcurrency): the files the Express lane
	// handed over. A child queued behind them waits for a slot with its
	// row unmarked (UnmarkedBound's known limit). It bounds their database
	// connections within one execution only; across executions the
	// request-status Lambda's reserved concurrency (the CDK app's context
	// key requestStatusConcurrency, one connection per container; off by
	// default) or the database role's connection limit bounds them. Every
	// task of a Standard execution retries throttling
	// (Lambda.TooManyRequestsException) longer than other Lambda faults:
	// one fixed retrier in definition.asl.json, up to 100 retries from 2 s
	// doubling to at most 300 s, full jitter (about four hours on average
	// before it gives up, each retry one state transition;
	// docs/concurrency.md).
	MapMaxConcurrency int

	// CopyRetries is the total number of copy attempts, as the original's
	// COPY_RETRIES: ASL MaxAttempts = CopyRetries - 1 (context copyRetries).
	CopyRetries int
	// CopyRetrySleepSecs is the wait before the first retry, as the
	// original's COPY_RETRY_SLEEP_SECS; ASL needs at least 1, so 0 gives 1
	// (context copyRetrySleepSecs).
	CopyRetrySleepSecs int
	// CopyRetryBackoffRate multiplies the wait after each retry (context
	// copyRetryBackoffRate).
	CopyRetryBackoffRate float64
	// CopyRetryMaxDelaySecs caps the wait between copy attempts (context
	// copyRetryMaxDelaySecs).
	CopyRetryMaxDelaySecs int

	// DatabaseRetries is the total number of attempts of a status lookup or
	// update when the database is unavailable (context databaseRetries).
	DatabaseRetries int
	// DatabaseRetryIntervalSecs is the wait before the first retry (context
	// databaseRetryIntervalSecs).
	DatabaseRetryIntervalSecs int
	// DatabaseRetryBackoffRate multiplies the wait after each retry
	// (context databaseRetryBackoffRate).
	DatabaseRetryBackoffRate float64
	// DatabaseRetryMaxDelaySecs caps the wait between attempts (context
	// databaseRetryMaxDelaySecs).
	DatabaseRetryMaxDelaySecs int

	// CopyTaskTimeoutSecs bounds one copy attempt; it must exceed
	// CopyFunctionTimeoutSecs so the Lambda's timeout is the one that fires
	// (context copyTaskTimeoutSecs).
	CopyTaskTimeoutSecs int
	// TaskTimeoutSecs bounds every other task; it must exceed
	// FunctionTimeoutSecs (context taskTimeoutSecs).
	TaskTimeoutSecs int

	// ChunkFiles is how many files one Express child copies (context
	// chunkFiles): all at once, so at most MaxInlineMapConcurrency.
	ChunkFiles int
	// ChunkMapMaxConcurrency is how many Express children one execution
	// runs at once (context chunkMapMaxConcurrency).
	ChunkMapMaxConcurrency int
	// ChunkExecutionType is the Express children's ExecutionType:
	// "EXPRESS" (deployed; the zero value means it) or "STANDARD", which
	// the local runner renders for moto, whose interpreter refuses EXPRESS.
	ChunkExecutionType string
}

// The Express lane's fixed budget (statemachine.ExpressBound keeps the
// child's worst case under Express's 5 minutes): copy-file is told to return
// within ExpressCopyBudgetSecs, its task gives up waiting after
// ExpressCopyTaskTimeoutSecs, and the status tasks after
// ExpressTaskTimeoutSecs. A task that gives up hands the file to the
// Standard lane; the Lambda it left may still finish, which is harmless: a
// copy and a status update are idempotent.
const (
	ExpressCopyBudgetSecs      = 45
	ExpressCopyTaskTimeoutSecs = 75
	ExpressTaskTimeoutSecs     = 10
)

// StandardSmallCopyMaxBytes is the largest file whose first copy in the
// Standard lane ("Small copy?" -> "Copy small file") runs on
// copy-file-express (ExpressCopyMemoryMB) rather than copy-file (1,769 MB,
// a whole vCPU for the part waves of large copies). A file reaches the
// Standard lane throttled past DeferMaxRounds, after an Express copy that
// timed out, or with a multipart resume token. Without a token (the
// Choice's other condition), a file of at most 64 MiB is, with cdk.json's
// copy settings, one CopyObject (up to multipartThresholdMb, 24) or one
// wave of at most five parts (multipartMinPartMb, 12, at least each): a
// copy that spends its time waiting on S3, so its bill is nearly
// proportional to the memory, 14 times less at 128 MB than at 1,769 MB.
// The Express lane already sends every file to copy-file-express first,
// with a 45 s budget (ExpressCopyBudgetSecs); here it has no budget, only
// its Lambda timeout, the full 900 s (CopyFunctionTimeoutSecs,
// functions.go), as copy-file's. A copy that still cannot finish returns
// its resume token, and "Mark copy resumed" sends it to "Copy file". A
// file whose event gives no size (0) goes to "Copy file", as a larger one
// does.
const StandardSmallCopyMaxBytes = 64 << 20

// The deferral policy: files "Sort results" defers (throttled, failing
// transiently, their status refused, or in a child that died) wait before
// they go round the Express lane again, a full jitter of
// min(DeferWaitCapSecs, DeferWaitBaseSecs * 2^round) seconds; after
// DeferMaxRounds rounds they go to the Standard lane, whose tasks retry for
// hours. Constants, like the Express lane's budget, not context keys: the
// parent's history (ParentHistoryBound counts every round) and the rows'
// unmarked time (UnmarkedBound counts the longest wait) depend on them.
// 2 s doubling to 60 s: a slot a copy frees is claimed within a minute
// (the Standard lane's throttle retrier waits up to 300 s), while the
// jitter spreads the chunks of many executions; 20 rounds hold a file in
// the Express lane for up to about 15 minutes of waits before the Standard
// lane, at about 330 parent events a round.
const (
	DeferWaitBaseSecs = 2
	DeferWaitCapSecs  = 60
	DeferMaxRounds    = 20
)

// The execution types of the Express lane's children.
const (
	ExecutionTypeExpress  = "EXPRESS"
	ExecutionTypeStandard = "STANDARD"
)

// The Lambda functions' timeouts, as deployed and as the local runner
// enforces them: the copy function gets Lambda's maximum, as a multipart
// copy of a large object takes minutes; the others are quick. A task's
// timeout in the definition must exceed its function's, so that the
// Lambda's own timeout fires first and reaches the workflow as
// Sandbox.Timedout ("Task timed out after ..."; Lambda.Unknown on older
// runtimes, https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts),
// not as States.Timeout. Only "Copy file" retries a function timeout (both
// names); the other tasks go straight to their
// Catch (the status tasks count the file as failed, "Read restored files"
// rejects the event) and "Report results" fails the execution.
const (
	CopyFunctionTimeoutSecs = 900
	FunctionTimeoutSecs     = 30
)

// The CDK context keys (cdk.json "context") of the Settings, by which
// ValidatePolicy names them; infra/cdkcontext reads them.
const (
	ContextMapMaxConcurrency         = "mapMaxConcurrency"
	ContextCopyRetries               = "copyRetries"
	ContextCopyRetrySleepSecs        = "copyRetrySleepSecs"
	ContextCopyRetryBackoffRate      = "copyRetryBackoffRate"
	ContextCopyRetryMaxDelaySecs     = "copyRetryMaxDelaySecs"
	ContextDatabaseRetries           = "databaseRetries"
	ContextDatabaseRetryIntervalSecs = "databaseRetryIntervalSecs"
	ContextDatabaseRetryBackoffRate  = "databaseRetryBackoffRate"
	ContextDatabaseRetryMaxDelaySecs = "databaseRetryMaxDelaySecs"
	ContextCopyTaskTimeoutSecs       = "copyTaskTimeoutSecs"
	ContextTaskTimeoutSecs           = "taskTimeoutSecs"
	ContextChunkFiles                = "chunkFiles"
	ContextChunkMapMaxConcurrency    = "chunkMapMaxConcurrency"
)

// Limits the settings must respect.
const (
	// MaxInlineMapConcurrency is the most iterations an inline Map runs at
	// once; a higher MaxConcurrency changes nothing.
	MaxInlineMapConcurrency = 40
	// MaxDistributedMapConcurrency is the most child executions a
	// Distributed Map runs at once: "You can specify the number of child
	// workflow executions that can run in parallel. If you don't,
	// Step Functions runs 10,000 parallel child workflow executions"
	// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html;
	// its MaxConcurrency field takes up to 10,000).
	MaxDistributedMapConcurrency = 10000
	maxRetries                   = 100
	maxSeconds                   = 99999999 // ASL's bound on IntervalSeconds, TimeoutSeconds
	maxBackoffRate               = 10
)

// DefaultSettings returns the policy cdk.json ships with and no function ARNs.
func DefaultSettings() Settings {
	return Settings{
		MapMaxConcurrency:         10,
		CopyRetries:               3,
		CopyRetrySleepSecs:        0,
		CopyRetryBackoffRate:      2,
		CopyRetryMaxDelaySecs:     60,
		DatabaseRetries:           100,
		DatabaseRetryIntervalSecs: 2,
		DatabaseRetryBackoffRate:  2,
		DatabaseRetryMaxDelaySecs: 120,
		CopyTaskTimeoutSecs:       960,
		TaskTimeoutSecs:           60,
		ChunkFiles:                40,
		ChunkMapMaxConcurrency:    10,
	}
}

// CopyRetryIntervalSecs is the ASL IntervalSeconds of the copy retry:
// CopyRetrySleepSecs, but at least 1.
func (s Settings) CopyRetryIntervalSecs() int {
	return max(1, s.CopyRetrySleepSecs)
}

// Validate reports every setting that is missing or out of range, each named
// with its context key (or field) and the value it got.
func (s Settings) Validate() error {
	var errs []error
	for _, f := range Functions {
		if strings.TrimSpace(s.FunctionARNs[f.Name]) == "" {
			errs = append(errs, fmt.Errorf("the ARN of function %s is empty: every task needs its function ARN", f.Name))
		}
	}
	return errors.Join(append(errs, s.ValidatePolicy())...)
}

// ValidatePolicy reports every policy setting (those that come from
// context, not the function ARNs) that is out of range, including task
// timeouts that do not exceed their functions' (CopyFunctionTimeoutSecs,
// FunctionTimeoutSecs).
func (s Settings) ValidatePolicy() error {
	var errs []error
	intIn := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			errs = append(errs, fmt.Errorf("%s = %d: must be between %d and %d", key, v, lo, hi))
		}
	}
	rateIn := func(key string, v float64) {
		if v < 1 || v > maxBackoffRate {
			errs = append(errs, fmt.Errorf("%s = %v: must be between 1 and %d", key, v, maxBackoffRate))
		}
	}
	intIn(ContextMapMaxConcurrency, s.MapMaxConcurrency, 1, MaxInlineMapConcurrency)
	intIn(ContextCopyRetries, s.CopyRetries, 1, maxRetries)
	intIn(ContextCopyRetrySleepSecs, s.CopyRetrySleepSecs, 0, maxSeconds)
	rateIn(ContextCopyRetryBackoffRate, s.CopyRetryBackoffRate)
	intIn(ContextCopyRetryMaxDelaySecs, s.CopyRetryMaxDelaySecs, s.CopyRetryIntervalSecs(), maxSeconds)
	intIn(ContextDatabaseRetries, s.DatabaseRetries, 1, maxRetries)
	intIn(ContextDatabaseRetryIntervalSecs, s.DatabaseRetryIntervalSecs, 1, maxSeconds)
	rateIn(ContextDatabaseRetryBackoffRate, s.DatabaseRetryBackoffRate)
	intIn(ContextDatabaseRetryMaxDelaySecs, s.DatabaseRetryMaxDelaySecs, max(1, s.DatabaseRetryIntervalSecs), maxSeconds)
	timeoutAbove := func(key string, v, fnSecs int, fn string) {
		switch {
		case v <= fnSecs:
			errs = append(errs, fmt.Errorf("%s = %d: must exceed %s timeout of %d s, so that the Lambda's own timeout fires first (Sandbox.Timedout, which only the copy task retries)", key, v, fn, fnSecs))
		case v > maxSeconds:
			errs = append(errs, fmt.Errorf("%s = %d: must be at most %d", key, v, maxSeconds))
		}
	}
	timeoutAbove(ContextCopyTaskTimeoutSecs, s.CopyTaskTimeoutSecs, CopyFunctionTimeoutSecs, "the copy Lambda's")
	timeoutAbove(ContextTaskTimeoutSecs, s.TaskTimeoutSecs, FunctionTimeoutSecs, "the other Lambdas'")
	// A child copies its whole chunk at once: the inline Map runs at most
	// 40 iterations at a time, so a larger chunk would queue files and
	// lengthen the child (ExpressBound).
	intIn(ContextChunkFiles, s.ChunkFiles, 1, MaxInlineMapConcurrency)
	intIn(ContextChunkMapMaxConcurrency, s.ChunkMapMaxConcurrency, 1, MaxDistributedMapConcurrency)
	switch s.ChunkExecutionType {
	case "", ExecutionTypeExpress, ExecutionTypeStandard:
	default:
		errs = append(errs, fmt.Errorf("ChunkExecutionType = %q: must be empty, %s or %s", s.ChunkExecutionType, ExecutionTypeExpress, ExecutionTypeStandard))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return s.checkBounds()
}

// checkBounds renders the definition with s (stand-in ARNs where s has
// none) and checks it against the bounds CheckBounds holds it to.
func (s Settings) checkBounds() error {
	def, err := fill(withStandInARNs(s))
	if err != nil {
		return err
	}
	return CheckBounds(def)
}

// CheckBounds reports where a rendered definition breaks a limit of Step
// Functions even when every task makes every attempt its retriers allow:
// an Express child that could outlive ExpressBudget (ExpressBound), or a
// Standard execution, the parent or a Standard lane child, that could pass
// HistoryEventBudget events (ParentHistoryBound, StandardChildHistoryBound).
func CheckBounds(definition []byte) error {
	var errs []error
	if d, err := ExpressBound(definition); err != nil {
		errs = append(errs, err)
	} else if d > ExpressBudget {
		errs = append(errs, fmt.Errorf("an Express child (%q) may run %s when every task makes every attempt: above the budget of %s (Express's limit of %s less %s margin)",
			ExpressLaneMap, d, ExpressBudget, ExpressDurationLimit, ExpressDurationLimit-ExpressBudget))
	}
	for _, b := range []struct {
		what  string
		count func([]byte) (int, error)
	}{{"the parent execution", ParentHistoryBound}, {"a Standard lane child", StandardChildHistoryBound}} {
		n, err := b.count(definition)
		switch {
		case err != nil:
			errs = append(errs, err)
		case n > HistoryEventBudget:
			errs = append(errs, fmt.Errorf("%s may have %d history events when every task makes every attempt: above the budget of %d (%d below Step Functions' limit of %d)",
				b.what, n, HistoryEventBudget, HistoryEventLimit-HistoryEventBudget, HistoryEventLimit))
		}
	}
	return errors.Join(errs...)
}

// placeholder matches a "${Name}" value in the definition, quotes included.
// CDK tokens ("${Token[...]}") do not match it.
var placeholder = regexp.MustCompile(`"\$\{([A-Za-z][A-Za-z0-9]*)\}"`)

// anyPlaceholder finds a "${Name}" anywhere, e.g. inside a longer string,
// where Render does not replace it.
var anyPlaceholder = regexp.MustCompile(`\$\{[A-Za-z][A-Za-z0-9]*\}`)

// values maps each placeholder of the definition to its value.
func (s Settings) values() map[string]any {
	vals := map[string]any{
		"MapMaxConcurrency":             s.MapMaxConcurrency,
		"CopyMaxAttempts":               s.CopyRetries - 1,
		"CopyRetryIntervalSeconds":      s.CopyRetryIntervalSecs(),
		"CopyRetryBackoffRate":          s.CopyRetryBackoffRate,
		"CopyRetryMaxDelaySeconds":      s.CopyRetryMaxDelaySecs,
		"DatabaseMaxAttempts":           s.DatabaseRetries - 1,
		"DatabaseRetryIntervalSeconds":  s.DatabaseRetryIntervalSecs,
		"DatabaseRetryBackoffRate":      s.DatabaseRetryBackoffRate,
		"DatabaseRetryMaxDelaySeconds":  s.DatabaseRetryMaxDelaySecs,
		"CopyTaskTimeoutSeconds":        s.CopyTaskTimeoutSecs,
		"TaskTimeoutSeconds":            s.TaskTimeoutSecs,
		"ChunkFiles":                    s.ChunkFiles,
		"ChunkMapMaxConcurrency":        s.ChunkMapMaxConcurrency,
		"ChunkExecutionType":            s.chunkExecutionType(),
		"ExpressCopyBudgetSeconds":      ExpressCopyBudgetSecs,
		"ExpressCopyTaskTimeoutSeconds": ExpressCopyTaskTimeoutSecs,
		"ExpressTaskTimeoutSeconds":     ExpressTaskTimeoutSecs,
		"DeferMaxRounds":                DeferMaxRounds,
		"DeferWaitBaseSeconds":          DeferWaitBaseSecs,
		"DeferWaitCapSeconds":           DeferWaitCapSecs,
		"StandardSmallCopyMaxBytes":     StandardSmallCopyMaxBytes,
	}
	for _, f := range Functions {
		vals[f.ARNPlaceholder] = s.FunctionARNs[f.Name]
	}
	return vals
}

func (s Settings) chunkExecutionType() string {
	if s.ChunkExecutionType == "" {
		return ExecutionTypeExpress
	}
	return s.ChunkExecutionType
}

// Render returns the definition with every placeholder replaced by its
// setting: the ASL JSON to deploy or run. The layout and state order of
// definition.asl.json are kept.
func Render(s Settings) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("render state machine: %w", err)
	}
	return fill(s)
}

// fill replaces the placeholders of the definition with the values of s,
// which it does not validate.
func fill(s Settings) ([]byte, error) {
	vals := s.values()
	var errs []error
	out := placeholder.ReplaceAllFunc(definition, func(m []byte) []byte {
		name := string(placeholder.FindSubmatch(m)[1])
		v, ok := vals[name]
		if !ok {
			errs = append(errs, fmt.Errorf("definition.asl.json has unknown placeholder ${%s}", name))
			return m
		}
		b, err := json.Marshal(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("placeholder ${%s}: %w", name, err))
			return m
		}
		return b
	})
	// Inside a string (an intrinsic's argument, such as
	// States.ArrayPartition's chunk size) only integer settings are
	// replaced: they need no quoting.
	out = anyPlaceholder.ReplaceAllFunc(out, func(m []byte) []byte {
		if v, ok := vals[string(m[2:len(m)-1])].(int); ok {
			return []byte(fmt.Sprint(v))
		}
		return m
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("render state machine: %w", err)
	}
	if left := anyPlaceholder.Find(out); left != nil {
		return nil, fmt.Errorf("render state machine: placeholder %s is left in the output (inside a string only integer settings are replaced)", left)
	}
	if !json.Valid(out) {
		return nil, errors.New("render state machine: the result is not valid JSON")
	}
	return out, nil
}

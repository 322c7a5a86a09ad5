package reconcile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// The environment variables ConfigFromEnv reads and Config.Env renders
// (besides the database's, which are requeststatus.Config's: its
// ConfigFromEnv and Env).
const (
	EnvStateMachineARN = "STATE_MACHINE_ARN"
	// EnvRestoreBuckets is copy-file's own variable for the restore
	// buckets, so both functions are deployed with the same list.
	EnvRestoreBuckets = copyfile.EnvSourceBuckets
	EnvGraceMinutes   = "RECONCILE_GRACE_MINUTES"
	EnvPeriodMinutes  = "RECONCILE_PERIOD_MINUTES"
	EnvReRestore      = "RECONCILE_RERESTORE"
	EnvReRestoreDays  = "RECONCILE_RERESTORE_DAYS"
	EnvReRestoreTier  = "RECONCILE_RERESTORE_TIER"
	EnvPageSize       = "RECONCILE_PAGE_SIZE"
	EnvMaxFiles       = "RECONCILE_MAX_FILES_PER_EXECUTION"
	EnvMaxFilesSweep  = "RECONCILE_MAX_FILES_PER_SWEEP"
	// EnvIntakeQueueURL is the intake queue whose oldest message the sweep
	// looks at before it sweeps (intake.go); unset, it does not look.
	EnvIntakeQueueURL  = "RECONCILE_INTAKE_QUEUE_URL"
	EnvIntakeGraceSecs = "RECONCILE_INTAKE_GRACE_SECONDS"
)

// Defaults of the settings; the CDK app's context defaults are the same
// values.
//
// DefaultGraceMinutes is at least the longest the workflow, with cdk.json's
// defaults, can leave a file's row unmarked while it works on it
// (statemachine.MaxUnmarked: 76,576 s, 1,277 minutes rounded up, about 21.3
// hours, counting every attempt that runs timing out and every retry,
// throttling included, waiting its longest); the CDK app refuses a shorter
// grace (docs/reconcile.md). 1,320 minutes is the next whole hour (22 h)
// past the bound: its 43 minutes' headroom covers what the bound leaves out,
// the milliseconds each of the up to 200 throttled invocations on the span
// takes to be refused, Step Functions' transitions between states, and the
// skew between the database's clock (the mark) and the sweep's.
const (
	DefaultGraceMinutes  = 1320
	DefaultPeriodMinutes = 60
	DefaultReRestoreDays = 3
	DefaultReRestoreTier = string(s3types.TierStandard)
	DefaultPageSize      = 500
	// DefaultMaxFilesPerExecution is the files of one execution the sweep
	// starts: 8, as before the batched workflow (issue 24), whose history
	// no longer grows with its files. MaxFilesPerExecutionLimit is the most
	// RECONCILE_MAX_FILES_PER_EXECUTION may be set to:
	// statemachine.MaxFilesPerExecution of cdk.json's defaults, 100 files,
	// with at most 7,114 events in any one Standard execution (the
	// parent's; a Standard lane child's at most 2,465: docs/workflow.md). The CDK app deploys less
	// where the deployment's own workflow settings allow fewer files.
	DefaultMaxFilesPerExecution = 8
	MaxFilesPerExecutionLimit   = 100
	// DefaultMaxFilesPerSweep bounds the files one sweep starts copies of
	// (and holds in memory): at 8 files an execution, 1,250 StartExecution
	// calls, made one at a time, within Step Functions' StartExecution
	// rate (a bucket of 800 to 1,300, refilling 150 to 300 a second).
	DefaultMaxFilesPerSweep = 10000
	MaxPageSize             = 10000
	// DefaultIntakeGraceSecs is the age of the intake's oldest message past
	// which the sweep holds off: 300 s, the age past which the stack calls
	// the intake stalled with cdk.json's Pipe settings (a 60 s batching
	// window, and a visibility timeout of that window plus six times the
	// Pipe's 30 s delivery; infra's IntakeStalledSecs). The CDK app deploys
	// its own settings' value.
	DefaultIntakeGraceSecs = 300
	// MaxIntakeGraceSecs is the longest intake grace: the intake keeps a
	// message 7 days.
	MaxIntakeGraceSecs = 7 * 24 * 3600
	// MaxReRestoreDays is S3's largest Days of a restore request (30,000
	// days is AWS's bound for RestoreRequest Days).
	MaxReRestoreDays = 30000
)

// ReRestoreTiers are the retrieval tiers RestoreObject accepts.
var ReRestoreTiers = []string{string(s3types.TierStandard), string(s3types.TierBulk), string(s3types.TierExpedited)}

// Config is the reconcile function's settings.
type Config struct {
	// StateMachineARN is the copy workflow the sweep starts executions of.
	StateMachineARN string
	// RestoreBuckets are asked, in order, for a row without
	// restore_bucket_dest.
	RestoreBuckets []string
	// Grace is how long an inprogress row stays unmarked (last_update_time,
	// which the workflow sets when it picks the file up and each time its
	// copy resumes) before the sweep counts it as stuck.
	Grace time.Duration
	// Period is the schedule's period: execution names carry the sweep
	// time truncated to it (the sweep window).
	Period time.Duration
	// ReRestore requests the restore again (RestoreObject with
	// ReRestoreDays and ReRestoreTier) for a file that is archived and not
	// restored, instead of recording error. Off by default: it costs
	// money.
	ReRestore     bool
	ReRestoreDays int32
	ReRestoreTier string
	// PageSize is how many rows one query lists.
	PageSize int
	// MaxFilesPerExecution bounds the files named by one execution's event
	// (also bounded by contract.FilesWithinReport).
	MaxFilesPerExecution int
	// MaxFilesPerSweep stops the listing once this many files wait (0:
	// no bound); the next sweep goes on.
	MaxFilesPerSweep int
	// IntakeQueueURL is the intake queue; when set, the sweep holds off
	// while its oldest message is older than IntakeGrace (intake.go).
	IntakeQueueURL string
	IntakeGrace    time.Duration
}

// DefaultConfig is Config with every default (the CDK app's context
// defaults), no state machine and no restore bucket.
func DefaultConfig() Config {
	return Config{
		Grace:                DefaultGraceMinutes * time.Minute,
		Period:               DefaultPeriodMinutes * time.Minute,
		ReRestoreDays:        DefaultReRestoreDays,
		ReRestoreTier:        DefaultReRestoreTier,
		PageSize:             DefaultPageSize,
		MaxFilesPerExecution: DefaultMaxFilesPerExecution,
		MaxFilesPerSweep:     DefaultMaxFilesPerSweep,
		IntakeGrace:          DefaultIntakeGraceSecs * time.Second,
	}
}

// ConfigFromEnv reads Config through getenv; every invalid value is reported,
// naming its variable and the value it got.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	c.StateMachineARN = strings.TrimSpace(getenv(EnvStateMachineARN))
	c.RestoreBuckets = copyfile.ParseList(getenv(EnvRestoreBuckets))
	e := &envReader{getenv: getenv}
	e.number(EnvGraceMinutes, 0, 100000, func(n int) { c.Grace = time.Duration(n) * time.Minute })
	e.number(EnvPeriodMinutes, 1, 100000, func(n int) { c.Period = time.Duration(n) * time.Minute })
	e.number(EnvReRestoreDays, 1, MaxReRestoreDays, func(n int) { c.ReRestoreDays = int32(n) })
	e.number(EnvPageSize, 1, MaxPageSize, func(n int) { c.PageSize = n })
	e.filesPerExecution(func(n int) { c.MaxFilesPerExecution = n })
	e.number(EnvMaxFilesSweep, 1, 1000000, func(n int) { c.MaxFilesPerSweep = n })
	e.number(EnvIntakeGraceSecs, 0, MaxIntakeGraceSecs, func(n int) { c.IntakeGrace = time.Duration(n) * time.Second })
	if c.IntakeQueueURL = strings.TrimSpace(getenv(EnvIntakeQueueURL)); c.IntakeQueueURL != "" {
		e.check(EnvIntakeQueueURL, c.IntakeQueueURL, ValidQueueURL(c.IntakeQueueURL))
	}
	c.ReRestore = e.onOff(EnvReRestore)
	if v := strings.TrimSpace(getenv(EnvReRestoreTier)); v != "" {
		e.check(EnvReRestoreTier, v, ValidTier(v))
		c.ReRestoreTier = v
	}
	if c.StateMachineARN == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is not set: the copy workflow's state machine ARN", EnvStateMachineARN))
	} else {
		e.check(EnvStateMachineARN, c.StateMachineARN, ValidStateMachineARN(c.StateMachineARN))
	}
	if len(e.errs) > 0 {
		return Config{}, fmt.Errorf("reconcile configuration: %w", errors.Join(e.errs...))
	}
	return c, nil
}

// Env renders c as the environment ConfigFromEnv reads, so that
// ConfigFromEnv(c.Env()) gives c back (the CDK app deploys the reconcile
// function with it, merged with requeststatus.Config's Env for the
// database). Durations render in whole minutes (the intake grace in whole
// seconds), rounded down. What
// ConfigFromEnv refuses renders as it is and is refused there: a Period
// under a minute, and a MaxFilesPerSweep of 0 (no bound, which only code
// may ask for: a deployed sweep is always bounded).
func (c Config) Env() map[string]string {
	return map[string]string{
		EnvStateMachineARN: c.StateMachineARN,
		EnvRestoreBuckets:  strings.Join(c.RestoreBuckets, ","),
		EnvGraceMinutes:    strconv.FormatInt(int64(c.Grace/time.Minute), 10),
		EnvPeriodMinutes:   strconv.FormatInt(int64(c.Period/time.Minute), 10),
		EnvReRestore:       strconv.FormatBool(c.ReRestore),
		EnvReRestoreDays:   strconv.FormatInt(int64(c.ReRestoreDays), 10),
		EnvReRestoreTier:   c.ReRestoreTier,
		EnvPageSize:        strconv.Itoa(c.PageSize),
		EnvMaxFiles:        strconv.Itoa(c.MaxFilesPerExecution),
		EnvMaxFilesSweep:   strconv.Itoa(c.MaxFilesPerSweep),
		EnvIntakeQueueURL:  c.IntakeQueueURL,
		EnvIntakeGraceSecs: strconv.FormatInt(int64(c.IntakeGrace/time.Second), 10),
	}
}

// envReader reads variables through getenv and gathers an error for each
// invalid value, naming the variable and the value.
type envReader struct {
	getenv func(string) string
	errs   []error
}

// number calls set with name's whole number when it is set and within
// [lo, hi]; anything else set is an error.
func (e *envReader) number(name string, lo, hi int, set func(int)) {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, lo, hi))
		return
	}
	set(n)
}

// filesPerExecution reads EnvMaxFiles: from 1 to MaxFilesPerExecutionLimit,
// the most files an execution of the default workflow can carry without
// risking the 25,000-event history quota.
func (e *envReader) filesPerExecution(set func(int)) {
	v := strings.TrimSpace(e.getenv(EnvMaxFiles))
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 1:
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a whole number from 1 to %d", EnvMaxFiles, v, MaxFilesPerExecutionLimit))
	case n > MaxFilesPerExecutionLimit:
		e.errs = append(e.errs, fmt.Errorf("%s=%q: above %d, the most files one execution can carry without risking Step Functions' %d history events when every task makes every attempt its retriers allow (statemachine.MaxFilesPerExecution of the default settings; docs/limits.md)",
			EnvMaxFiles, v, MaxFilesPerExecutionLimit, statemachine.HistoryEventLimit))
	default:
		set(n)
	}
}

// onOff reads name as a switch: unset, false, 0 or off is false; true, 1
// or on is true; anything else is an error (and false).
func (e *envReader) onOff(name string) bool {
	switch v := strings.ToLower(strings.TrimSpace(e.getenv(name))); v {
	case "", "false", "0", "off":
		return false
	case "true", "1", "on":
		return true
	default:
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want true or false", name, v))
		return false
	}
}

// check records err, if any, as name's value v being invalid.
func (e *envReader) check(name, v string, err error) {
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: %w", name, v, err))
	}
}

// ValidTier returns an error listing the tiers unless tier is one of
// ReRestoreTiers.
func ValidTier(tier string) error {
	for _, t := range ReRestoreTiers {
		if t == tier {
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(ReRestoreTiers, ", "))
}

// ValidStateMachineARN checks the shape arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME.
func ValidStateMachineARN(arn string) error {
	if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":states:") || !strings.Contains(arn, ":stateMachine:") {
		return errors.New("not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)")
	}
	return nil
}

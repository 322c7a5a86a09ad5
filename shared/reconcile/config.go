package reconcile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The environment variables Config reads (besides the database's, which
// are requeststatus.ConfigFromEnv's).
const (
	EnvStateMachineARN = "STATE_MACHINE_ARN"
	// EnvRestoreBuckets is copy-file's own name for the restore buckets.
	EnvRestoreBuckets = "SOURCE_BUCKETS"
	EnvGraceMinutes   = "RECONCILE_GRACE_MINUTES"
	EnvPeriodMinutes  = "RECONCILE_PERIOD_MINUTES"
	EnvReRestore      = "RECONCILE_RERESTORE"
	EnvReRestoreDays  = "RECONCILE_RERESTORE_DAYS"
	EnvReRestoreTier  = "RECONCILE_RERESTORE_TIER"
	EnvPageSize       = "RECONCILE_PAGE_SIZE"
	EnvMaxFiles       = "RECONCILE_MAX_FILES_PER_EXECUTION"
	EnvMaxFilesSweep  = "RECONCILE_MAX_FILES_PER_SWEEP"
)

// Defaults of the settings; the CDK app's context defaults are the same
// values.
const (
	DefaultGraceMinutes  = 60
	DefaultPeriodMinutes = 60
	DefaultReRestoreDays = 3
	DefaultReRestoreTier = string(s3types.TierStandard)
	DefaultPageSize      = 500
	// DefaultMaxFilesPerExecution bounds the files of one execution below
	// what contract.FilesWithinReport allows, so that one execution's Map
	// stays small (MaxFilesPerExecutionLimit is the most it may be set to).
	DefaultMaxFilesPerExecution = 50
	MaxFilesPerExecutionLimit   = 500
	// DefaultMaxFilesPerSweep bounds the files one sweep starts copies of
	// (and holds in memory): at 50 files an execution, 200 StartExecution
	// calls, well within Step Functions' StartExecution rate
	// (a bucket of 800 to 1,300, refilling 150 to 300 a second).
	DefaultMaxFilesPerSweep = 10000
	MaxPageSize             = 10000
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
	// Grace is how long a row stays untouched before the sweep counts it
	// as stuck.
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
}

// ConfigFromEnv reads Config through getenv; every invalid value is reported,
// naming its variable and the value it got.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		StateMachineARN:      strings.TrimSpace(getenv(EnvStateMachineARN)),
		Grace:                DefaultGraceMinutes * time.Minute,
		Period:               DefaultPeriodMinutes * time.Minute,
		ReRestoreDays:        DefaultReRestoreDays,
		ReRestoreTier:        DefaultReRestoreTier,
		PageSize:             DefaultPageSize,
		MaxFilesPerExecution: DefaultMaxFilesPerExecution,
		MaxFilesPerSweep:     DefaultMaxFilesPerSweep,
	}
	for _, b := range strings.Split(getenv(EnvRestoreBuckets), ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.RestoreBuckets = append(c.RestoreBuckets, b)
		}
	}
	var errs []error
	number := func(name string, lo, hi int, set func(int)) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, lo, hi))
			return
		}
		set(n)
	}
	number(EnvGraceMinutes, 0, 100000, func(n int) { c.Grace = time.Duration(n) * time.Minute })
	number(EnvPeriodMinutes, 1, 100000, func(n int) { c.Period = time.Duration(n) * time.Minute })
	number(EnvReRestoreDays, 1, MaxReRestoreDays, func(n int) { c.ReRestoreDays = int32(n) })
	number(EnvPageSize, 1, MaxPageSize, func(n int) { c.PageSize = n })
	number(EnvMaxFiles, 1, MaxFilesPerExecutionLimit, func(n int) { c.MaxFilesPerExecution = n })
	number(EnvMaxFilesSweep, 1, 1000000, func(n int) { c.MaxFilesPerSweep = n })
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvReRestore))); v {
	case "", "false", "0", "off":
	case "true", "1", "on":
		c.ReRestore = true
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want true or false", EnvReRestore, v))
	}
	if v := strings.TrimSpace(getenv(EnvReRestoreTier)); v != "" {
		if err := ValidTier(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvReRestoreTier, v, err))
		}
		c.ReRestoreTier = v
	}
	if c.StateMachineARN == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the copy workflow's state machine ARN", EnvStateMachineARN))
	} else if err := ValidStateMachineARN(c.StateMachineARN); err != nil {
		errs = append(errs, fmt.Errorf("%s=%q: %w", EnvStateMachineARN, c.StateMachineARN, err))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("reconcile configuration: %w", errors.Join(errs...))
	}
	return c, nil
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

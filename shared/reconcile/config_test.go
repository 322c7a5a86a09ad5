package reconcile

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/envtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

const arn = "arn:aws:states:us-east-1:123456789012:stateMachine:copy"

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(map[string]string{EnvStateMachineARN: arn, EnvRestoreBuckets: "a, b"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Grace != DefaultGraceMinutes*time.Minute || c.Period != time.Hour || c.ReRestore || c.ReRestoreTier != "Standard" || len(c.RestoreBuckets) != 2 {
		t.Errorf("defaults: %+v", c)
	}
	if c.IntakeQueueURL != "" || c.IntakeGrace != DefaultIntakeGraceSecs*time.Second {
		t.Errorf("intake defaults: queue %q, grace %s; want none and %d s", c.IntakeQueueURL, c.IntakeGrace, DefaultIntakeGraceSecs)
	}
	_, err = ConfigFromEnv(env(map[string]string{EnvStateMachineARN: "copy", EnvGraceMinutes: "-1",
		EnvReRestore: "maybe", EnvReRestoreTier: "Fast", EnvPageSize: "0",
		EnvIntakeQueueURL: "intake", EnvIntakeGraceSecs: "604801"}))
	for _, want := range []string{EnvStateMachineARN + `="copy"`, EnvGraceMinutes + `="-1"`, EnvReRestore + `="maybe"`,
		EnvReRestoreTier + `="Fast"`, EnvPageSize + `="0"`, EnvIntakeQueueURL + `="intake": not a queue URL`,
		EnvIntakeGraceSecs + `="604801": want a whole number from 0 to 604800`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestConfigEnvRoundTrip: a Config rendered by Env reads back as itself, so
// the CDK app (which deploys cfg.Env()) and the Lambda agree on every setting.
func TestConfigEnvRoundTrip(t *testing.T) {
	withARN := DefaultConfig()
	withARN.StateMachineARN = arn
	all := Config{
		StateMachineARN:      arn,
		RestoreBuckets:       []string{"restore-a", "restore-b"},
		Grace:                0,
		Period:               5 * time.Minute,
		ReRestore:            true,
		ReRestoreDays:        MaxReRestoreDays,
		ReRestoreTier:        string(s3types.TierBulk),
		PageSize:             MaxPageSize,
		MaxFilesPerExecution: 1,
		MaxFilesPerSweep:     1,
		IntakeQueueURL:       "https://sqs.us-east-1.amazonaws.com/123456789012/intake",
		IntakeGrace:          0,
	}
	// A field added to Config without a variable in Env fails here once it
	// is set in all.
	envtest.EveryFieldSet(t, "at its default", DefaultConfig(), all)
	envtest.RoundTrip(t, Config.Env, ConfigFromEnv, []envtest.Case[Config]{
		{Name: "defaults (and the state machine, which has none)", Cfg: withARN},
		{Name: "every setting away from its default", Cfg: all},
	}, cmpopts.EquateEmpty())
	t.Run("no bound per sweep is refused", func(t *testing.T) {
		// GIVEN MaxFilesPerSweep 0, which code may ask for: THEN the
		// deployed environment is refused, naming the variable
		unbounded := withARN
		unbounded.MaxFilesPerSweep = 0
		env := unbounded.Env()
		_, err := ConfigFromEnv(func(k string) string { return env[k] })
		if want := EnvMaxFilesSweep + `="0"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	})
}

// The function's environment is Config.Env merged with the database's
// (requeststatus.Config.Env): no name is in both, so neither overwrites the
// other and each name has one owner.
func TestConfigEnvLeavesTheDatabaseToRequestStatus(t *testing.T) {
	db := requeststatus.Config{DatabaseURL: "postgres://x", SSLRootCert: "/ca.pem"}.Env()
	for name := range DefaultConfig().Env() {
		if _, ok := db[name]; ok {
			t.Errorf("%s is rendered by both reconcile.Config.Env and requeststatus.Config.Env", name)
		}
	}
}

func TestClassifyHead(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		head s3.HeadObjectOutput
		want RestoreState
	}{
		{"standard", s3.HeadObjectOutput{}, StateWaiting},
		{"glacier instant retrieval", s3.HeadObjectOutput{StorageClass: s3types.StorageClassGlacierIr}, StateWaiting},
		{"restored", s3.HeadObjectOutput{StorageClass: s3types.StorageClassGlacier,
			Restore: aws.String(`ongoing-request="false", expiry-date="Fri, 04 Dec 2026 00:00:00 GMT"`)}, StateWaiting},
		{"running", s3.HeadObjectOutput{StorageClass: s3types.StorageClassDeepArchive, Restore: aws.String(`ongoing-request="true"`)}, StateRunning},
		{"expiry passed", s3.HeadObjectOutput{StorageClass: s3types.StorageClassGlacier,
			Restore: aws.String(`ongoing-request="false", expiry-date="Tue, 01 Dec 2026 00:00:00 GMT"`)}, StateExpired},
		{"archived, no restore", s3.HeadObjectOutput{StorageClass: s3types.StorageClassDeepArchive}, StateExpired},
		{"intelligent-tiering archive", s3.HeadObjectOutput{StorageClass: s3types.StorageClassIntelligentTiering,
			ArchiveStatus: s3types.ArchiveStatusArchiveAccess}, StateExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifyHead("b", &tc.head, now).State; got != tc.want {
				t.Errorf("state %s, want %s", got, tc.want)
			}
		})
	}
}

func TestExecutionName(t *testing.T) {
	a := ExecutionName("reconcile", "20261202T0300", []string{"x", "y"})
	if b := ExecutionName("reconcile", "20261202T0300", []string{"y", "x"}); a != b {
		t.Errorf("order changes the name: %s, %s", a, b)
	}
	if c := ExecutionName("reconcile", "20261202T0400", []string{"x", "y"}); a == c {
		t.Errorf("another window, same name %s", a)
	}
	if len(a) > 80 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		t.Errorf("name %q: want at most 80 characters of [A-Za-z0-9_-]", a)
	}
}

// TestMaxFilesPerExecutionWithinHistoryQuota: the sweep's (and rerun's)
// batch never exceeds what the default workflow's history bound allows
// (statemachine.MaxFilesPerExecution), and a larger
// RECONCILE_MAX_FILES_PER_EXECUTION is refused, naming the variable, the
// value and the bound.
func TestMaxFilesPerExecutionWithinHistoryQuota(t *testing.T) {
	safe, events, err := statemachine.MaxFilesPerExecution(statemachine.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if DefaultMaxFilesPerExecution > safe || MaxFilesPerExecutionLimit > safe {
		t.Errorf("DefaultMaxFilesPerExecution %d, MaxFilesPerExecutionLimit %d: the default workflow allows at most %d files an execution (%d events)",
			DefaultMaxFilesPerExecution, MaxFilesPerExecutionLimit, safe, events)
	}
	env := map[string]string{EnvMaxFiles: strconv.Itoa(safe + 1)}
	_, err = ConfigFromEnv(func(k string) string { return env[k] })
	want := fmt.Sprintf("%s=%q: above %d", EnvMaxFiles, strconv.Itoa(safe+1), safe)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s=%d: err = %v, want it to contain %s", EnvMaxFiles, safe+1, err, want)
	}
}

package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const arn = "arn:aws:states:us-east-1:123456789012:stateMachine:copy"

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(map[string]string{EnvStateMachineARN: arn, EnvRestoreBuckets: "a, b"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Grace != time.Hour || c.Period != time.Hour || c.ReRestore || c.ReRestoreTier != "Standard" || len(c.RestoreBuckets) != 2 {
		t.Errorf("defaults: %+v", c)
	}
	_, err = ConfigFromEnv(env(map[string]string{EnvStateMachineARN: "copy", EnvGraceMinutes: "-1",
		EnvReRestore: "maybe", EnvReRestoreTier: "Fast", EnvPageSize: "0"}))
	for _, want := range []string{EnvStateMachineARN + `="copy"`, EnvGraceMinutes + `="-1"`, EnvReRestore + `="maybe"`,
		EnvReRestoreTier + `="Fast"`, EnvPageSize + `="0"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
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

package copyfile

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/envtest"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{
			name: "defaults",
			want: DefaultConfig(),
		},
		{
			name: "all set",
			env: map[string]string{
				"SOURCE_BUCKETS":            " restore-a, restore-b ,",
				"ARCHIVE_BUCKETS":           "archive",
				"MULTIPART_THRESHOLD_MB":    "64",
				"MULTIPART_CHUNKSIZE_MB":    "5",
				"MULTIPART_MIN_PART_MB":     "8",
				"MULTIPART_CONCURRENCY":     "256",
				"STORAGE_CLASS":             "deep_archive",
				"ARCHIVE_KMS_KEY_ID":        "arn:aws:kms:us-east-1:111122223333:key/k",
				"COPY_DEADLINE_MARGIN_SECS": "10",
				"MULTIPART_CHECKSUM":        "OFF",
				"ARCHIVE_OBJECT_ACL":        " None ",
				"COPY_PROGRESS_SECS":        "15",
			},
			want: Config{
				SourceBuckets:      []string{"restore-a", "restore-b"},
				ArchiveBuckets:     []string{"archive"},
				MultipartThreshold: 64 * MiB,
				Chunksize:          5 * MiB,
				MinPart:            8 * MiB,
				Concurrency:        256,
				StorageClass:       "DEEP_ARCHIVE",
				KMSKeyID:           "arn:aws:kms:us-east-1:111122223333:key/k",
				DeadlineMargin:     10 * time.Second,
				MultipartChecksum:  "off",
				ProgressInterval:   15 * time.Second,
			},
		},
		{name: "chunk below 5 MiB", env: map[string]string{"MULTIPART_CHUNKSIZE_MB": "4"}, wantErr: `MULTIPART_CHUNKSIZE_MB="4": must be between 5 and 5120`},
		{name: "threshold above CopyObject's limit", env: map[string]string{"MULTIPART_THRESHOLD_MB": "6000"}, wantErr: `MULTIPART_THRESHOLD_MB="6000": must be between 0 and 5120`},
		{name: "threshold not a number", env: map[string]string{"MULTIPART_THRESHOLD_MB": "1GB"}, wantErr: `MULTIPART_THRESHOLD_MB="1GB": not a whole number`},
		{name: "concurrency zero", env: map[string]string{"MULTIPART_CONCURRENCY": "0"}, wantErr: `MULTIPART_CONCURRENCY="0": must be between 1 and 256`},
		{name: "concurrency above 256", env: map[string]string{"MULTIPART_CONCURRENCY": "257"}, wantErr: `MULTIPART_CONCURRENCY="257": must be between 1 and 256`},
		{name: "floor below 5 MiB", env: map[string]string{"MULTIPART_MIN_PART_MB": "4"}, wantErr: `MULTIPART_MIN_PART_MB="4": must be between 5 and 5120`},
		{name: "unknown storage class", env: map[string]string{"STORAGE_CLASS": "COLD"}, wantErr: `STORAGE_CLASS="COLD": not an S3 storage class`},
		{name: "ACL stated", env: map[string]string{"ARCHIVE_OBJECT_ACL": "bucket-owner-full-control"}, want: DefaultConfig()},
		{name: "other ACL refused", env: map[string]string{"ARCHIVE_OBJECT_ACL": "public-read"}, wantErr: `ARCHIVE_OBJECT_ACL="public-read": must be "bucket-owner-full-control" or "none"`},
		{name: "unknown checksum mode", env: map[string]string{"MULTIPART_CHECKSUM": "sha1"}, wantErr: `MULTIPART_CHECKSUM="sha1": must be "source" or "off"`},
		{name: "negative margin", env: map[string]string{"COPY_DEADLINE_MARGIN_SECS": "-1"}, wantErr: `COPY_DEADLINE_MARGIN_SECS="-1": must be between 5 and 600`},
		{name: "margin 0 leaves no time to abort", env: map[string]string{"COPY_DEADLINE_MARGIN_SECS": "0"}, wantErr: `COPY_DEADLINE_MARGIN_SECS="0": must be between 5 and 600`},
		{name: "margin 4 leaves too little time to abort", env: map[string]string{"COPY_DEADLINE_MARGIN_SECS": "4"}, wantErr: `COPY_DEADLINE_MARGIN_SECS="4": must be between 5 and 600`},
		{name: "margin above 600", env: map[string]string{"COPY_DEADLINE_MARGIN_SECS": "601"}, wantErr: `COPY_DEADLINE_MARGIN_SECS="601": must be between 5 and 600`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigEnvRoundTrip: a Config rendered by Env reads back as itself, so
// the CDK app (which deploys cfg.Env()) and the Lambda agree on every setting.
func TestConfigEnvRoundTrip(t *testing.T) {
	all := Config{
		SourceBuckets:      []string{"restore-a", "restore-b"},
		ArchiveBuckets:     []string{"archive"},
		MultipartThreshold: 0,
		Chunksize:          5120 * MiB,
		MinPart:            5 * MiB,
		Concurrency:        MaxMultipartConcurrency - 1,
		StorageClass:       "DEEP_ARCHIVE",
		KMSKeyID:           "arn:aws:kms:us-east-1:111122223333:key/k",
		ObjectACL:          "",
		MultipartChecksum:  ChecksumOff,
		DeadlineMargin:     MinDeadlineMargin,
		ProgressInterval:   MaxProgressSecs * time.Second,
	}
	// A field added to Config without a variable in Env fails here once it
	// is set in all.
	envtest.EveryFieldSet(t, "at its default", DefaultConfig(), all)
	envtest.RoundTrip(t, Config.Env, ConfigFromEnv, []envtest.Case[Config]{
		{Name: "defaults", Cfg: DefaultConfig()},
		{Name: "every setting away from its default", Cfg: all},
	}, cmpopts.EquateEmpty())
}

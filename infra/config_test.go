package main

import (
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/infra/cdkcontext"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

func TestConfigFromContext(t *testing.T) {
	base := func(t *testing.T) map[string]any {
		ctx := cdkJSONContext(t)
		ctx["restoreBuckets"] = []any{"restore-a"}
		ctx["archiveBuckets"] = []any{"archive-a"}
		return ctx
	}
	tests := []struct {
		name    string
		change  map[string]any
		delete  string
		want    func(Config) any // what to compare, with wantVal
		wantVal any
		wantErr []string
	}{
		{
			name:    "cdk.json as shipped needs the bucket lists",
			change:  map[string]any{"restoreBuckets": []any{}, "archiveBuckets": []any{}},
			wantErr: []string{"restoreBuckets is empty", "archiveBuckets is empty"},
		},
		{
			name:    "-c lists as comma-separated strings",
			change:  map[string]any{"restoreBuckets": "r-one, r-two,r-one", "archiveBuckets": `["a-one"]`},
			want:    func(c Config) any { return [][]string{c.RestoreBuckets, c.ArchiveBuckets} },
			wantVal: [][]string{{"r-one", "r-two"}, {"a-one"}},
		},
		{
			name:   "-c numbers and booleans as strings",
			change: map[string]any{"databasePort": "6432", "enableRestoreBucketEventBridge": "true", "logRetentionDays": "30"},
			want: func(c Config) any {
				return []any{c.Database.Port, c.EnableRestoreBucketEventBridge, c.LogRetentionDays}
			},
			wantVal: []any{6432, true, 30},
		},
		{name: "missing key", delete: "databaseName", wantErr: []string{"databaseName is missing"}},
		{
			name:    "pipe batch settings from -c",
			change:  map[string]any{"pipeBatchSize": "25", "pipeBatchWindowSecs": "120"},
			want:    func(c Config) any { return c.Intake },
			wantVal: cdkcontext.IntakeSettings{BatchSize: 25, BatchWindowSecs: 120},
		},
		{name: "pipe batch above one execution's files", change: map[string]any{"pipeBatchSize": 101}, wantErr: []string{"pipeBatchSize = 101: must be a whole number from 1 to 100"}},
		{name: "pipe window above 300 s", change: map[string]any{"pipeBatchWindowSecs": "600"}, wantErr: []string{"pipeBatchWindowSecs = 600: must be a whole number from 0 to 300"}},
		{name: "pipe batch key missing", delete: "pipeBatchWindowSecs", wantErr: []string{"pipeBatchWindowSecs is missing"}},
		{name: "bad bucket name", change: map[string]any{"restoreBuckets": "Not_A_Bucket"}, wantErr: []string{`restoreBuckets: "Not_A_Bucket" is not an S3 bucket name`}},
		{name: "restore bucket is an archive bucket", change: map[string]any{"archiveBuckets": "restore-a"}, wantErr: []string{`both name "restore-a"`}},
		{name: "port out of range", change: map[string]any{"databasePort": 70000}, wantErr: []string{"databasePort = 70000"}},
		{name: "bad boolean", change: map[string]any{"enableRestoreBucketEventBridge": "yes please"}, wantErr: []string{`enableRestoreBucketEventBridge = "yes please"`}},
		{name: "VPC without subnets and security group", change: map[string]any{"vpcId": "vpc-0123456789abcdef0"}, wantErr: []string{"subnetIds is empty", `securityGroupId = ""`}},
		{name: "subnets without VPC", change: map[string]any{"subnetIds": "subnet-0123456789abcdef0"}, wantErr: []string{`vpcId = ""`}},
		{name: "bad email", change: map[string]any{"alarmEmail": "ops at example"}, wantErr: []string{`alarmEmail = "ops at example"`}},
		{name: "bad KMS key", change: map[string]any{"archiveKmsKeyArn": "alias/archive"}, wantErr: []string{`archiveKmsKeyArn = "alias/archive"`}},
		{name: "bad source KMS key", change: map[string]any{"sourceKmsKeyArns": []any{"alias/restore"}}, wantErr: []string{`sourceKmsKeyArns: "alias/restore" is not a KMS key ARN`}},
		{name: "bad archive bucket default key", change: map[string]any{"archiveBucketKmsKeyArns": "alias/archive"}, wantErr: []string{`archiveBucketKmsKeyArns: "alias/archive" is not a KMS key ARN`}},
		{
			name: "archive key and bucket default keys both set",
			change: map[string]any{
				"archiveKmsKeyArn":        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
				"archiveBucketKmsKeyArns": []any{"arn:aws:kms:us-east-1:123456789012:key/9999abcd-12ab-34cd-56ef-1234567890ab"},
			},
			wantErr: []string{"archiveKmsKeyArn and archiveBucketKmsKeyArns are both set"},
		},
		{
			name:    "restoreBucketRegions as -c pairs",
			change:  map[string]any{"restoreBuckets": "restore-a,restore-b", "restoreBucketRegions": "restore-a=eu-west-1, restore-b=eu-west-1"},
			want:    func(c Config) any { return []any{c.RestoreBucketRegions, c.RestoreBucketRegion()} },
			wantVal: []any{map[string]string{"restore-a": "eu-west-1", "restore-b": "eu-west-1"}, "eu-west-1"},
		},
		{
			name:    "restoreBucketRegions as shipped: none",
			want:    func(c Config) any { return c.RestoreBucketRegion() },
			wantVal: "",
		},
		{
			name:   "restore buckets in two regions",
			change: map[string]any{"restoreBuckets": "restore-a,restore-b", "restoreBucketRegions": map[string]any{"restore-a": "us-east-1", "restore-b": "ap-southeast-7"}},
			wantErr: []string{"restoreBucketRegions puts the restore buckets in 2 regions (restore-b in ap-southeast-7; restore-a in us-east-1): " +
				"S3 sends a bucket's EventBridge events only in the bucket's own region"},
		},
		{name: "region of a bucket that is not a restore bucket", change: map[string]any{"restoreBucketRegions": `{"archive-a":"us-east-1"}`}, wantErr: []string{`restoreBucketRegions names "archive-a", which is not in restoreBuckets`}},
		{name: "not a region", change: map[string]any{"restoreBucketRegions": `{"restore-a":"Frankfurt"}`}, wantErr: []string{`restoreBucketRegions: "Frankfurt" for bucket "restore-a" is not an AWS region name`}},
		{
			name:    "verify-full in a region the embedded RDS bundle lacks",
			change:  map[string]any{"restoreBucketRegions": map[string]any{"restore-a": "me-west-1"}},
			wantErr: []string{`databaseSslMode = "verify-full" checks the database against the RDS certificate authorities the function embeds, which have none for me-west-1`, "set databaseSslRootCert"},
		},
		{
			name:    "verify-full in a region the January 2025 RDS bundle added",
			change:  map[string]any{"restoreBucketRegions": map[string]any{"restore-a": "il-central-1"}},
			want:    func(c Config) any { return c.RestoreBucketRegion() },
			wantVal: "il-central-1",
		},
		{
			name:    "verify-full in such a region with the region's bundle shipped",
			change:  map[string]any{"restoreBucketRegions": map[string]any{"restore-a": "me-west-1"}, "databaseSslRootCert": "testdata/database-ca.pem"},
			want:    func(c Config) any { return c.Database.SSLRootCert },
			wantVal: "testdata/database-ca.pem",
		},
		{name: "chunk below S3's 5 MiB part", change: map[string]any{"multipartChunksizeMb": 4}, wantErr: []string{"multipartChunksizeMb = 4"}},
		{name: "unknown storage class", change: map[string]any{"archiveStorageClass": "COLD"}, wantErr: []string{`archiveStorageClass = "COLD"`}},
		{name: "threshold above CopyObject's 5 GB", change: map[string]any{"multipartThresholdMb": 6000}, wantErr: []string{"multipartThresholdMb = 6000"}},
		{name: "retention CloudWatch does not offer", change: map[string]any{"logRetentionDays": 42}, wantErr: []string{"logRetentionDays = 42"}},
		{name: "bad ssl mode", change: map[string]any{"databaseSslMode": "always"}, wantErr: []string{`databaseSslMode = "always"`}},
		{
			name:    "requestStatusConcurrency as shipped and as -c string",
			change:  map[string]any{"requestStatusConcurrency": " 25 "},
			want:    func(c Config) any { return c.RequestStatusConcurrency },
			wantVal: 25,
		},
		{name: "requestStatusConcurrency above the account quota", change: map[string]any{"requestStatusConcurrency": 1001}, wantErr: []string{"requestStatusConcurrency = 1001"}},
		{name: "negative requestStatusConcurrency", change: map[string]any{"requestStatusConcurrency": "-1"}, wantErr: []string{"requestStatusConcurrency = -1: want a whole number from 0 to 1000"}},
		{name: "fractional requestStatusConcurrency", change: map[string]any{"requestStatusConcurrency": 2.5}, wantErr: []string{"requestStatusConcurrency = 2.5"}},
		{
			name:    "copyFileConcurrency as -c string",
			change:  map[string]any{"copyFileConcurrency": "40"},
			want:    func(c Config) any { return c.CopyFileConcurrency },
			wantVal: 40,
		},
		{name: "copyFileConcurrency above the account quota", change: map[string]any{"copyFileConcurrency": 5000}, wantErr: []string{"copyFileConcurrency = 5000: want a whole number from 0 to 1000"}},
		{name: "databaseSslRootCert missing", change: map[string]any{"databaseSslRootCert": "testdata/none.pem"}, wantErr: []string{`databaseSslRootCert = "testdata/none.pem": open testdata/none.pem: no such file`}},
		{name: "databaseSslRootCert not PEM", change: map[string]any{"databaseSslRootCert": "main.go"}, wantErr: []string{`databaseSslRootCert = "main.go": the file holds no PEM certificate`}},
		{name: "databaseSslRootCert with sslmode disable", change: map[string]any{"databaseSslRootCert": "testdata/database-ca.pem", "databaseSslMode": "disable"},
			wantErr: []string{`databaseSslRootCert is set but databaseSslMode = "disable" does not use it`}},
		{name: "workflow setting checked by statemachine", change: map[string]any{"copyRetries": "0"}, wantErr: []string{"copyRetries = 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := base(t)
			for k, v := range tc.change {
				ctx[k] = v
			}
			if tc.delete != "" {
				delete(ctx, tc.delete)
			}
			cfg, err := ConfigFromContext(func(k string) any { return ctx[k] })
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("accepted, want errors %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\ndoes not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromContext: %v", err)
			}
			if diff := cmp.Diff(tc.wantVal, tc.want(cfg)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestCDKJSONKeys: cdk.json defines exactly the keys the app reads, so no
// setting is silently ignored and none lacks its default.
func TestCDKJSONKeys(t *testing.T) {
	var inFile []string
	for k := range cdkJSONContext(t) {
		inFile = append(inFile, k)
	}
	read := contextKeys()
	sort.Strings(inFile)
	sort.Strings(read)
	if diff := cmp.Diff(read, inFile); diff != "" {
		t.Errorf("context keys (-read by the app +in cdk.json):\n%s", diff)
	}
}

// TestMultipartKeysSpelledAsCDKJSON: where copyfile's sources and the
// docs name a multipart context key, they spell it as cdk.json does
// (multipartChunksizeMb, not multipartChunkSizeMb), so a search for the key
// finds every place that explains it.
func TestMultipartKeysSpelledAsCDKJSON(t *testing.T) {
	keys := cdkJSONContext(t)
	mention := regexp.MustCompile(`\bmultipart[A-Z][A-Za-z]*(Mb|Concurrency)\b`)
	var files []string
	for _, glob := range []string{"../shared/copyfile/*.go", "../docs/*.md", "../README.md"} {
		m, err := filepath.Glob(glob)
		if err != nil || len(m) == 0 {
			t.Fatalf("%s: no files (%v)", glob, err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range mention.FindAllString(string(b), -1) {
			if _, ok := keys[k]; !ok {
				t.Errorf("%s names %q, which is not a cdk.json context key", f, k)
			}
		}
	}
}

// TestLambdaBuilder builds a tiny main package the way synth builds the
// functions and checks the result is a Linux arm64 executable.
func TestLambdaBuilder(t *testing.T) {
	out := t.TempDir()
	dir, err := lambdaBuilder{ModuleDir: "..", OutDir: out}.Build("hello", "./infra/testdata/hello")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if dir != filepath.Join(out, "hello") {
		t.Errorf("dir = %s, want %s", dir, filepath.Join(out, "hello"))
	}
	f, err := elf.Open(filepath.Join(dir, "bootstrap"))
	if err != nil {
		t.Fatalf("bootstrap is not an ELF executable: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC {
		t.Errorf("bootstrap is %v %v, want EM_AARCH64 ET_EXEC", f.Machine, f.Type)
	}

	_, err = lambdaBuilder{ModuleDir: "..", OutDir: out}.Build("missing", "./functions/no-such-function")
	if err == nil || !strings.Contains(err.Error(), "build Lambda missing") {
		t.Errorf("building a missing package: error = %v", err)
	}
}

// TestMultipartDefaultsMatchArchiveCopy: cdk.json's multipart settings are
// the copy Lambda's own defaults (shared/copyfile), so a deploy with no
// override copies as the Lambda does without its environment, and the two
// cannot drift apart unnoticed.
func TestMultipartDefaultsMatchArchiveCopy(t *testing.T) {
	ctx := cdkJSONContext(t)
	ctx["restoreBuckets"] = []any{"restore-a"}
	ctx["archiveBuckets"] = []any{"archive-a"}
	cfg, err := ConfigFromContext(func(k string) any { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	def := copyfile.DefaultConfig()
	want := map[string]int64{
		ctxMultipartThresholdMB: def.MultipartThreshold / copyfile.MiB,
		ctxMultipartChunksizeMB: def.Chunksize / copyfile.MiB,
		ctxMultipartConcurrency: int64(def.Concurrency),
		ctxMultipartMinPartMB:   def.MinPart / copyfile.MiB,
	}
	got := map[string]int64{
		ctxMultipartThresholdMB: int64(cfg.MultipartThresholdMB),
		ctxMultipartChunksizeMB: int64(cfg.MultipartChunksizeMB),
		ctxMultipartConcurrency: int64(cfg.MultipartConcurrency),
		ctxMultipartMinPartMB:   int64(cfg.MultipartMinPartMB),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("multipart settings (-copyfile.DefaultConfig +cdk.json):\n%s", diff)
	}
}

// TestMultipartRangesMatchArchiveCopy: a multipart setting the CDK app
// accepts is one the copy Lambda accepts from its environment, and the
// reverse, at the edges of each range.
func TestMultipartRangesMatchArchiveCopy(t *testing.T) {
	tests := []struct {
		key, env string
		values   []int
	}{
		{ctxMultipartThresholdMB, "MULTIPART_THRESHOLD_MB", edges(copyfile.MinMultipartThresholdMB, copyfile.MaxMultipartThresholdMB)},
		{ctxMultipartChunksizeMB, "MULTIPART_CHUNKSIZE_MB", edges(copyfile.MinMultipartChunksizeMB, copyfile.MaxMultipartChunksizeMB)},
		{ctxMultipartConcurrency, "MULTIPART_CONCURRENCY", edges(copyfile.MinMultipartConcurrency, copyfile.MaxMultipartConcurrency)},
		{ctxMultipartMinPartMB, "MULTIPART_MIN_PART_MB", edges(copyfile.MinMultipartMinPartMB, copyfile.MaxMultipartMinPartMB)},
	}
	for _, tc := range tests {
		for _, v := range tc.values {
			ctx := cdkJSONContext(t)
			ctx["restoreBuckets"] = []any{"restore-a"}
			ctx["archiveBuckets"] = []any{"archive-a"}
			ctx[tc.key] = float64(v)
			_, infraErr := ConfigFromContext(func(k string) any { return ctx[k] })
			env := map[string]string{tc.env: strconv.Itoa(v)}
			_, lambdaErr := copyfile.ConfigFromEnv(func(k string) string { return env[k] })
			if (infraErr == nil) != (lambdaErr == nil) {
				t.Errorf("%s = %d: CDK app error %v, copy Lambda (%s) error %v; want both to accept or both to reject", tc.key, v, infraErr, tc.env, lambdaErr)
			}
		}
	}
}

// edges are the values around the range lo..hi.
func edges(lo, hi int) []int { return []int{lo - 1, lo, hi, hi + 1} }

// TestSSLModeDefaultMatchesRequestStatus: cdk.json's databaseSslMode is the
// request-status Lambda's own default (requeststatus.DefaultSSLMode), so a
// deploy with no override connects as the Lambda does without its
// environment.
func TestSSLModeDefaultMatchesRequestStatus(t *testing.T) {
	if got := cdkJSONContext(t)[ctxDatabaseSSLMode]; got != requeststatus.DefaultSSLMode {
		t.Errorf("cdk.json %s = %v, requeststatus.DefaultSSLMode = %q: change them together", ctxDatabaseSSLMode, got, requeststatus.DefaultSSLMode)
	}
}

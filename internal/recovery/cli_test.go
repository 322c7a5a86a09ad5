package recovery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

func runCLI(env map[string]string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	cli := &recovery.CLI{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code = cli.Main(context.Background(), args)
	return out.String(), errb.String(), code
}

// Every subcommand's --help prints its usage line and every flag with its
// meaning, on stdout, exit 0.
func TestHelpListsEveryFlag(t *testing.T) {
	flags := map[string][]string{
		"status": {"request-group", "granule", "since", "json", "waiting", "check-restores", "restore-buckets", "region", "watch", "interval"},
		"rerun": {"request-group", "granule", "since", "failed", "stuck", "grace", "limit", "dry-run", "state-machine-arn",
			"restore-buckets", "region", "json"},
	}
	for cmd, names := range flags {
		for _, help := range []string{"--help", "-h"} {
			stdout, stderr, code := runCLI(nil, cmd, help)
			if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "usage: recovery "+cmd+" ") {
				t.Errorf("%s %s: exit %d, stderr %q, stdout %q; want 0 and the usage on stdout", cmd, help, code, stderr, stdout)
			}
			for _, n := range names {
				if !strings.Contains(stdout, "\n  -"+n+" ") && !strings.Contains(stdout, "\n  -"+n+"\n") {
					t.Errorf("%s %s does not list -%s:\n%s", cmd, help, n, stdout)
				}
			}
		}
	}
	stdout, _, code := runCLI(nil, "--help")
	if code != 0 || !strings.Contains(stdout, "recovery status ") || !strings.Contains(stdout, "recovery rerun ") {
		t.Errorf("recovery --help: exit %d, %q", code, stdout)
	}
}

// With a Backend (the local runner's), rerun declares no
// --state-machine-arn or --region: its help and synopsis name neither,
// and giving one is refused naming it, exit 2.
func TestRerunWithBackendHasNoAWSFlags(t *testing.T) {
	var out, errb bytes.Buffer
	cli := &recovery.CLI{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Program: "local",
		Backend: func(context.Context) (*recovery.Backend, error) { return nil, errors.New("not reached") }}
	if code := cli.Main(context.Background(), []string{"rerun", "--help"}); code != 0 || !strings.Contains(out.String(), "\n  -dry-run") {
		t.Fatalf("rerun --help: exit %d, stdout:\n%s", code, out.String())
	}
	for _, flag := range []string{"state-machine-arn", "region"} {
		if strings.Contains(out.String(), "-"+flag) {
			t.Errorf("rerun --help names -%s:\n%s", flag, out.String())
		}
		errb.Reset()
		if code := cli.Main(context.Background(), []string{"rerun", "--" + flag, "x"}); code != 2 || !strings.Contains(errb.String(), "not defined: -"+flag) {
			t.Errorf("rerun --%s x: exit %d, stderr %q; want 2 naming the flag", flag, code, errb.String())
		}
	}
}

// A Backend's setup error that is one of usage or configuration
// (recovery.UsageError) exits 2; any other setup error exits 1.
func TestRerunBackendUsageErrorExits2(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{&recovery.UsageError{Err: errors.New("no repository root here")}, 2},
		{fmt.Errorf("start: %w", &recovery.UsageError{Err: errors.New("node_modules missing")}), 2},
		{errors.New("the engine crashed"), 1},
	} {
		var out, errb bytes.Buffer
		cli := &recovery.CLI{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Program: "local",
			Backend: func(context.Context) (*recovery.Backend, error) { return nil, tc.err }}
		if code := cli.Main(context.Background(), []string{"rerun", "--dry-run"}); code != tc.code || !strings.Contains(errb.String(), "local rerun: "+tc.err.Error()) {
			t.Errorf("%v: exit %d, stderr %q; want %d and the error", tc.err, code, errb.String(), tc.code)
		}
	}
}

// Values that make no sense are refused before anything is reached, with
// exit 2 and the flag named.
func TestRefusesNonsense(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"rerun", "--stuck", "--grace", "-1h", "--dry-run"}, "--grace -1h0m0s is negative"},
		{[]string{"rerun", "--limit", "-5", "--dry-run"}, "--limit -5: want at least 1"},
		{[]string{"rerun", "--limit", "0", "--dry-run"}, "--limit 0: want at least 1"},
		// The local runner's engine is go run ./cmd/local rerun's, not the operators' tool's.
		{[]string{"rerun", "--local"}, "flag provided but not defined: -local"},
		{[]string{"status", "--check-restores", "-1"}, "--check-restores -1 is negative"},
		{[]string{"status", "--waiting", "0"}, "--waiting 0: want at least 1"},
		{[]string{"status", "--watch", "--interval", "0s"}, "--interval 0s: want a positive duration"},
		{[]string{"status", "--watch", "--json"}, "--watch draws for people"},
		{[]string{"status", "--interval", "10s"}, "--interval is --watch's"},
		// --watch reads the counts only: the report's flags would be ignored.
		{[]string{"status", "--watch", "--check-restores", "5"}, "--check-restores has no effect with --watch"},
		{[]string{"status", "--watch", "--waiting", "3"}, "--waiting has no effect with --watch"},
		{[]string{"status", "--watch", "--restore-buckets", "b"}, "--restore-buckets has no effect with --watch"},
		{[]string{"status", "--since", "-2h"}, "--since -2h0m0s is negative"},
		{[]string{"status", "--nope"}, "flag provided but not defined: -nope"},
	}
	for _, tc := range cases {
		_, stderr, code := runCLI(nil, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// Without AWS_REGION the restore checks of 37 waiting files fail alike:
// status says so once with the count and what to set, and exits 1. With a
// region, a restore bucket that answers 403 is reported once too.
func TestStatusCheckFailuresOncePerCause(t *testing.T) {
	url, db := seededDB(t)
	group := jobseed.NewRequestID()
	for i := range 37 {
		insert(t, db, jobseed.Row{RequestGroupID: group, ObjectKey: "waiting/" + strings.Repeat("x", i), RestoreBucketDest: "restore"})
	}
	var heads atomic.Int64
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		heads.Add(1)
		w.WriteHeader(http.StatusForbidden)
	}))
	defer s3.Close()
	// The SDK reads its configuration from the process environment.
	for k, v := range map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": t.TempDir() + "/none", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/none",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	env := map[string]string{"DATABASE_URL": url, "AWS_ENDPOINT_URL_S3": s3.URL}

	stdout, stderr, code := runCLI(env, "status", "--request-group", group)
	wantErr := "recovery status: could not check the restores of 37 files: 37 no AWS region (set AWS_REGION (or --region) to the restore buckets' region)\n"
	if code != 1 || stderr != wantErr {
		t.Errorf("no region: exit %d, stderr %q; want 1 and %q", code, stderr, wantErr)
	}
	if n := strings.Count(stdout, "could not check"); n != 1 || !strings.Contains(stdout, "could not check: 37 files not checked: no AWS region") {
		t.Errorf("no region: %d 'could not check' lines, want 1 naming 37 files:\n%s", n, stdout)
	}
	if heads.Load() != 0 {
		t.Errorf("%d requests reached S3 without a region", heads.Load())
	}

	stdout, stderr, code = runCLI(env, "status", "--request-group", group, "--region", "us-east-1", "--json")
	if code != 1 || !strings.Contains(stderr, "37 access denied (403) (the credentials need s3:GetObject") ||
		!strings.Contains(stdout, `"count": 37`) || strings.Count(stdout, `"cause"`) != 1 {
		t.Errorf("403: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}

	// --check-restores 0 makes no check: nothing could fail.
	if _, stderr, code := runCLI(env, "status", "--request-group", group, "--check-restores", "0"); code != 0 {
		t.Errorf("--check-restores 0: exit %d, stderr %q", code, stderr)
	}

	// Without credentials (none in the environment, no instance role): once.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, stderr, code = runCLI(env, "status", "--request-group", group, "--region", "us-east-1")
	if code != 1 || !strings.Contains(stderr, "37 no AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)") {
		t.Errorf("no credentials: exit %d, stderr %q", code, stderr)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")

	// A transport error names each file's URL; they still group as one
	// cause (3 files: the SDK retries each with backoff).
	small := jobseed.NewRequestID()
	for _, k := range []string{"x/1", "x/2", "x/3"} {
		insert(t, db, jobseed.Row{RequestGroupID: small, ObjectKey: k, RestoreBucketDest: "restore"})
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	stdout, stderr, code = runCLI(map[string]string{"DATABASE_URL": url, "AWS_ENDPOINT_URL_S3": closed.URL}, "status", "--request-group", small, "--region", "us-east-1")
	if code != 1 || strings.Count(stdout, "could not check") != 1 || !strings.Contains(stdout, "3 files not checked") || !strings.Contains(stderr, "connection refused") {
		t.Errorf("connection refused: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}

	// rerun reports the same way and starts nothing.
	stdout, stderr, code = runCLI(env, "rerun", "--request-group", group, "--stuck", "--grace", "0s", "--dry-run")
	if code != 1 || strings.Count(stdout, "could not check") != 1 || !strings.Contains(stderr, "37 no AWS region") {
		t.Errorf("rerun without region: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
}

// rerun --stuck without --grace selects only the rows unmarked for longer
// than the reconcile sweep's default grace (not an hour: a row marked two
// hours ago may be a file still being copied); a shorter --grace is
// obeyed, with a warning naming the workflow's longest unmarked span.
func TestRerunStuckGraceDefaultsToTheSweeps(t *testing.T) {
	url, db := seededDB(t)
	group := jobseed.NewRequestID()
	now := time.Now()
	inFlight := insert(t, db, jobseed.Row{RequestGroupID: group, ObjectKey: "in-flight", RestoreBucketDest: "restore", ArchiveBucketDest: "archive",
		RequestTime: now.Add(-48 * time.Hour), LastUpdateTime: now.Add(-2 * time.Hour)})
	lost := insert(t, db, jobseed.Row{RequestGroupID: group, ObjectKey: "lost", RestoreBucketDest: "restore", ArchiveBucketDest: "archive",
		RequestTime: now.Add(-48 * time.Hour), LastUpdateTime: now.Add(-recovery.DefaultStuckGrace - time.Hour)})
	// S3 says every object is archived and restored.
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amz-storage-class", "GLACIER")
		w.Header().Set("x-amz-restore", `ongoing-request="false", expiry-date="Fri, 21 Dec 2099 00:00:00 GMT"`)
		w.Header().Set("Content-Length", "1")
	}))
	defer s3.Close()
	for k, v := range map[string]string{"AWS_PROFILE": "", "AWS_CONFIG_FILE": t.TempDir() + "/none", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/none",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	env := map[string]string{"DATABASE_URL": url, "AWS_ENDPOINT_URL_S3": s3.URL}
	rerun := func(extra ...string) (keys []string, stderr string) {
		t.Helper()
		args := append([]string{"rerun", "--request-group", group, "--stuck", "--dry-run", "--region", "us-east-1", "--json"}, extra...)
		stdout, stderr, code := runCLI(env, args...)
		var rep recovery.RerunReport
		if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil {
			t.Fatalf("%v: exit %d (%v), stderr %q, stdout:\n%s", args, code, err, stderr, stdout)
		}
		for _, e := range rep.Executions {
			for _, f := range e.Files {
				keys = append(keys, f.Key)
			}
		}
		if rep.Selected != len(keys) {
			t.Errorf("%v: %d selected, %d re-run (%v), left %v: every selected file is restored", args, rep.Selected, len(keys), keys, rep.Left)
		}
		sort.Strings(keys)
		return keys, stderr
	}

	if keys, stderr := rerun(); !slices.Equal(keys, []string{lost.ObjectKey}) || stderr != "" {
		t.Errorf("default --grace: re-runs %v, stderr %q; want only %q (unmarked past %s), no warning", keys, stderr, lost.ObjectKey, recovery.DefaultStuckGrace)
	}
	bound, err := statemachine.MaxUnmarked(statemachine.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	keys, stderr := rerun("--grace", "1h")
	if !slices.Equal(keys, []string{inFlight.ObjectKey, lost.ObjectKey}) {
		t.Errorf("--grace 1h: re-runs %v, want both: the operator's grace is obeyed", keys)
	}
	if want := "warning: --grace 1h0m0s is shorter than the longest the workflow can leave a file's row unmarked while it still works on it, " + bound.String(); !strings.HasPrefix(stderr, want) {
		t.Errorf("--grace 1h: stderr %q, want it to start %q", stderr, want)
	}
	if _, stderr := rerun("--grace", bound.String()); stderr != "" {
		t.Errorf("--grace %s (the bound): stderr %q, want no warning", bound, stderr)
	}
}

package localrun

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/google/go-cmp/cmp"
)

func TestCLIUsageErrors(t *testing.T) {
	root := requireEngine(t)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"no command", nil, nil, "usage:"},
		{"unknown command", []string{"deploy"}, nil, `unknown command "deploy"`},
		{"run without event", []string{"run"}, nil, "run needs --event FILE"},
		{"unknown engine", []string{"run", "--engine", "sfn", "--event", "x"}, nil, `--engine "sfn": want node or moto`},
		{"flag of another command", []string{"demo", "--event", "x"}, nil, "flag provided but not defined: -event"},
		{"unknown flag", []string{"run", "--evnt", "x"}, nil, "flag provided but not defined: -evnt"},
		{"missing event file", []string{"run", "--event", "/no/such/event.json"}, nil, "read the event"},
		{"event not JSON", []string{"run", "--event", "cli_test.go"}, nil, "is not valid JSON"},
		{"bad COPY_RETRIES", []string{"run", "--event", "../../shared/parseevent/testdata/s3-records-restore-completed.json"},
			map[string]string{"COPY_RETRIES": "three"}, `COPY_RETRIES="three": not a whole number`},
		{"MAP_MAX_CONCURRENCY out of range", []string{"run", "--event", "../../shared/parseevent/testdata/s3-records-restore-completed.json"},
			map[string]string{"MAP_MAX_CONCURRENCY": "0"}, "mapMaxConcurrency = 0"},
		{"load without events", []string{"load"}, nil, "load needs --events FILE"},
		{"load events not NDJSON", []string{"load", "--events", "testdata/load-bad-line.ndjson"}, nil, "line 2: not a JSON document"},
		{"load bad reserved", []string{"load", "--events", "testdata/load-bad-line.ndjson", "--reserved", "copy-file:3"}, nil, `--reserved "copy-file:3"`},
		{"load reserved unknown function", []string{"load", "--events", "testdata/load-two-events.ndjson", "--reserved", "copy=3"}, nil, "no function copy"},
		{"load limit without a server", []string{"load", "--events", "testdata/load-two-events.ndjson", "--db-max-connections", "5"}, nil, "--db-max-connections needs a Postgres server"},
		{"seed without events", []string{"seed"}, nil, "seed needs --events FILE"},
		{"seed events not NDJSON", []string{"seed", "--events", "testdata/load-bad-line.ndjson"}, nil, "load-bad-line.ndjson line 2: not a JSON document"},
		{"seed event the workflow refuses", []string{"seed", "--events", "testdata/seed-bad-event.ndjson"}, nil, "seed-bad-event.ndjson line 3: "},
		{"repo without cdk.json", []string{"demo", "--repo", t.TempDir()}, nil, "no cdk.json there"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cli := &CLI{Stdout: &stdout, Stderr: &stderr, Dir: root,
				Getenv: func(k string) string { return tc.env[k] }}
			code := cli.Main(context.Background(), tc.args)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, ExitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.wantErr, stderr.String())
			}
		})
	}
}

// TestDemoOnEmbeddedServices runs `demo` end to end on a fresh embedded S3
// server and PGlite (twice: the second run starts from the same state).
func TestDemoOnEmbeddedServices(t *testing.T) {
	if testing.Short() {
		t.Skip("starts versitygw and PGlite")
	}
	root := requireEngine(t)
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		var stdout, stderr bytes.Buffer
		cli := &CLI{Stdout: &stdout, Stderr: &stderr, Dir: root,
			Getenv: func(k string) string { return map[string]string{"DATABASE_URL": "postgres://ignored"}[k] }}
		code := cli.Main(context.Background(), []string{"demo",
			"--data-dir", filepath.Join(dir, "s3"), "--db-dir", filepath.Join(dir, "pglite"),
			"--log-file", filepath.Join(dir, "demo.log")})
		out := stdout.String()
		if code != ExitSucceeded {
			t.Fatalf("run %d: exit %d\nstdout:\n%s\nstderr:\n%s", run, code, out, stderr.String())
		}
		for _, want := range []string{
			"ExecutionSucceeded", "SUCCEEDED in",
			"archive bucket s3://my-dr-archive-bucket:",
			"granules/a+b=c café.iso.xml", "granules/L0A RAD RAW product (1 of 20).h5",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: output lacks %q:\n%s", run, want, out)
			}
		}
		_, rows, _ := strings.Cut(out, "request_status rows:")
		if n := strings.Count(rows, " complete "); n != 3 {
			t.Errorf("run %d: %d complete rows, want 3:\n%s", run, n, rows)
		}
		if !strings.Contains(stderr.String(), "demo ignores DATABASE_URL") {
			t.Errorf("run %d: no note that DATABASE_URL is ignored:\n%s", run, stderr.String())
		}
	}
}

func TestParseReserved(t *testing.T) {
	got, err := ParseReserved(" copy-file=8, request-status=4 ")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"copy-file": 8, "request-status": 4}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"copy-file", "copy-file=x", "=3,"} {
		if _, err := ParseReserved(bad); err == nil || !strings.Contains(err.Error(), "function=N") {
			t.Errorf("ParseReserved(%q) = %v, want an error naming the form", bad, err)
		}
	}
}

// requireEngine returns the repository root, failing when the engine's
// node_modules are missing.
func requireEngine(t *testing.T) string {
	t.Helper()
	root, err := localservices.FindRepoRoot(".")
	if err == nil {
		err = localservices.CheckNodeModules(root)
	}
	if err != nil {
		t.Fatal(err)
	}
	return root
}

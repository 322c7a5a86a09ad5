package localrun

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// docExample is one command of docs/local.md's code blocks.
type docExample struct {
	line int
	args []string // after "go run ./cmd/local"
}

// docExamples returns every `go run ./cmd/local ...` command in the code
// blocks (indented or fenced) of the Markdown file, a trailing `# comment`
// removed.
func docExamples(t *testing.T, path string) []docExample {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "go run ./cmd/local "
	var out []docExample
	fenced := false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced && !strings.HasPrefix(line, "    ") {
			continue
		}
		cmd, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
		if !ok {
			continue
		}
		cmd, _, _ = strings.Cut(cmd, "#")
		out = append(out, docExample{line: n, args: strings.Fields(cmd)})
	}
	return out
}

// TestLocalDocExamplesRun runs every example command of docs/local.md as
// written, in order, on fresh embedded services (versitygw and PGlite in a
// temporary directory: the state of a fresh checkout), and fails when one
// exits non-zero, when `load` reports a failed execution, or when the
// doc's sample history header is not the one `run` prints.
func TestLocalDocExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts versitygw and PGlite for each example")
	}
	root := requireEngine(t)
	t.Chdir(root) // the examples' paths are relative to the repository root
	examples := docExamples(t, filepath.Join(root, "docs", "local.md"))
	if len(examples) < 4 {
		t.Fatalf("found %d example commands in docs/local.md, want the demo, seed, run and load ones", len(examples))
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	outputs := map[string]string{}
	for _, ex := range examples {
		for _, a := range ex.args {
			if strings.ContainsAny(a, "[]|<>") {
				t.Fatalf("docs/local.md line %d: %q is not a command to run as written (placeholder %q)", ex.line, strings.Join(ex.args, " "), a)
			}
		}
		var stdout, stderr bytes.Buffer
		cli := &CLI{Stdout: &stdout, Stderr: &stderr, Dir: root, Getenv: func(string) string { return "" }}
		args := append(append([]string(nil), ex.args...),
			"--data-dir", filepath.Join(dir, "s3"), "--db-dir", filepath.Join(dir, "pglite"),
			"--log-file", filepath.Join(dir, ex.args[0]+".log"))
		start := time.Now()
		code := cli.Main(ctx, args)
		t.Logf("docs/local.md line %d: %s: exit %d in %s", ex.line, strings.Join(ex.args, " "), code, time.Since(start).Round(time.Millisecond))
		if code != ExitSucceeded {
			t.Fatalf("docs/local.md line %d: `go run ./cmd/local %s` exited %d\nstdout:\n%s\nstderr:\n%s",
				ex.line, strings.Join(ex.args, " "), code, stdout.String(), stderr.String())
		}
		if ex.args[0] == "load" && !strings.Contains(stdout.String(), ", 0 failed") {
			t.Errorf("docs/local.md line %d: load ran executions that failed:\n%s", ex.line, stdout.String())
		}
		if ex.args[0] == "load" && !strings.Contains(stdout.String(), "not measured: PGlite") {
			t.Errorf("docs/local.md line %d: load on PGlite does not say its database sessions were not measured:\n%s", ex.line, stdout.String())
		}
		outputs[ex.args[0]] = stdout.String()
	}
	checkDocHeader(t, filepath.Join(root, "docs", "local.md"), outputs["run"])
}

// checkDocHeader fails unless the doc's sample history header (its line
// starting with "TIME") is the header `run` printed.
func checkDocHeader(t *testing.T, path, runOutput string) {
	t.Helper()
	if runOutput == "" {
		t.Fatal("docs/local.md has no `run` example")
	}
	raw, _ := os.ReadFile(path)
	var header string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "TIME ") {
			header = strings.TrimRight(strings.TrimPrefix(line, "    "), " ")
			break
		}
	}
	if header == "" {
		t.Fatal("docs/local.md has no sample history header (a line starting with TIME)")
	}
	for _, line := range strings.Split(runOutput, "\n") {
		if strings.TrimRight(line, " ") == header {
			return
		}
	}
	t.Errorf("docs/local.md's sample header\n%q\nis not the one run prints:\n%s", header, runOutput)
}

package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// production are the commands deployed or run against AWS, and the
// internal packages they may import; every other package under internal/
// and cmd/ exists for local runs or tests (the local runner and its
// engines, the embedded servers, the seeding and test helpers).
var production = struct{ commands, internal []string }{
	commands: []string{"./cmd/recovery", "./cmd/replay-dlq", "./functions/..."},
	internal: []string{"internal/recovery", "internal/dlqreplay"},
}

// The operators' tools and the Lambdas link no development package: a local
// implementation is passed in by the local runner's own command (pkgsite's
// cmd/frontend imports nothing of its internal/testing).
func TestProductionCommandsImportNoDevelopmentPackage(t *testing.T) {
	root := moduleRoot(t)
	module := goList(t, root, "list", "-m")[0]
	allowed := map[string]bool{}
	for _, p := range production.internal {
		allowed[module+"/"+p] = true
	}
	for _, p := range goList(t, root, append([]string{"list"}, production.commands...)...) {
		allowed[p] = true
	}
	development := map[string]bool{}
	for _, p := range goList(t, root, "list", "./internal/...", "./cmd/...") {
		if !allowed[p] {
			development[p] = true
		}
	}
	if len(development) < 5 {
		t.Fatalf("found only %d development packages under internal/ and cmd/: %v", len(development), development)
	}
	deps := goList(t, root, append([]string{"list", "-deps"}, production.commands...)...)
	for _, d := range deps {
		if development[d] {
			t.Errorf("%s imports %s, a package that exists for local runs or tests", strings.Join(production.commands, " "), d)
		}
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	mod := goList(t, ".", "env", "GOMOD")[0]
	if mod == "" || mod == "/dev/null" {
		t.Fatal("not inside the module")
	}
	return filepath.Dir(mod)
}

func goList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return strings.Fields(string(out))
}

package main

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
)

// cdkCLI returns the pinned CDK CLI (npm ci at the repository root), or
// stops the test (testenv.Unavailable).
func cdkCLI(t *testing.T) string {
	t.Helper()
	cli, err := filepath.Abs(filepath.Join("..", "node_modules", ".bin", "cdk"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cli); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("CDK CLI not installed (%v): run npm ci at the repository root", err))
	}
	return cli
}

func runCDK(t *testing.T, cli string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(cli, args...)
	cmd.Dir = ".." // where cdk.json is
	cmd.Env = append(os.Environ(), "CDK_DISABLE_CLI_TELEMETRY=true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCDKSynth runs `cdk synth` as a user would, offline: the app builds
// the real functions for linux/arm64 and the template references them.
func TestCDKSynth(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED with -short: cdk synth builds the Lambdas")
	}
	cli := cdkCLI(t)

	t.Run("missing bucket lists fail synth naming them", func(t *testing.T) {
		// GIVEN cdk.json as shipped (empty bucket lists)
		// WHEN synth runs without -c
		out, err := runCDK(t, cli, "synth", "--no-notices", "-q", "-o", t.TempDir())
		// THEN it fails, naming the settings
		if err == nil {
			t.Fatalf("synth succeeded without restoreBuckets/archiveBuckets:\n%s", out)
		}
		for _, want := range []string{"restoreBuckets is empty", "archiveBuckets is empty"} {
			if !strings.Contains(out, want) {
				t.Errorf("synth output does not say %q:\n%s", want, out)
			}
		}
	})

	t.Run("synth builds the Lambdas and writes the template", func(t *testing.T) {
		// GIVEN the bucket lists on the command line
		outDir := t.TempDir()
		// WHEN synth runs
		out, err := runCDK(t, cli, "synth", "--no-notices", "-q", "-o", outDir,
			"-c", "restoreBuckets=restore-a,restore-b", "-c", "archiveBuckets=archive-a")
		if err != nil {
			t.Fatalf("cdk synth: %v\n%s", err, out)
		}
		// THEN the template has the four functions, each with an asset
		// holding a linux/arm64 bootstrap
		raw, err := os.ReadFile(filepath.Join(outDir, stackID+".template.json"))
		if err != nil {
			t.Fatal(err)
		}
		var tmpl struct {
			Resources map[string]struct {
				Type     string
				Metadata map[string]any
			}
		}
		if err := json.Unmarshal(raw, &tmpl); err != nil {
			t.Fatal(err)
		}
		functions := 0
		for id, r := range tmpl.Resources {
			if r.Type != "AWS::Lambda::Function" {
				continue
			}
			functions++
			asset, _ := r.Metadata["aws:asset:path"].(string)
			if asset == "" {
				t.Errorf("%s has no asset", id)
				continue
			}
			f, err := elf.Open(filepath.Join(outDir, asset, "bootstrap"))
			if err != nil {
				t.Errorf("%s: bootstrap: %v", id, err)
				continue
			}
			if f.Machine != elf.EM_AARCH64 {
				t.Errorf("%s: bootstrap is built for %v, want EM_AARCH64", id, f.Machine)
			}
			f.Close()
		}
		if functions != len(functionNames)+1 { // and the reconcile sweep
			t.Errorf("template has %d functions, want %d", functions, len(functionNames)+1)
		}

		// AND cfn-lint finds no error in it, and only the warnings
		// explained in cfnLintKept
		lintTemplate(t, filepath.Join(outDir, stackID+".template.json"))
	})
}

// cfnLintKept are the cfn-lint warnings the synthesized template keeps, by
// rule id, each with the reason it is kept. Any other finding (every error,
// any other warning or informational finding) fails the test.
var cfnLintKept = map[string]string{
	// CDK gives each Lambda function (and the state machine) a DependsOn
	// on its role and on the role's default policy, so the function is
	// created only once its permissions exist. The role dependency is
	// also implied by the Fn::GetAtt of the role's Arn, which W3005
	// reports; the DependsOn on the policy is the one that matters and has
	// no GetAtt, so CDK writes both. Harmless: CloudFormation orders the
	// same way with or without it, and the template is CDK's to write.
	"W3005": "CDK's DependsOn on a function's (or the state machine's) own role, already implied by GetAtt Role.Arn",
}

// cfnLint returns the cfn-lint command, or stops the test
// (testenv.Unavailable).
func cfnLint(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("cfn-lint is not installed (%v): pip install cfn-lint", err))
	}
	return bin
}

// lintTemplate runs cfn-lint on a synthesized template: no errors, and each
// warning it reports is one cfnLintKept explains.
func lintTemplate(t *testing.T, template string) {
	t.Helper()
	bin := cfnLint(t)
	out, err := exec.Command(bin, "--format", "json", template).Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("cfn-lint: %v", err)
	}
	var findings []struct {
		Level    string
		Message  string
		Rule     struct{ Id string }
		Location struct {
			Path []any
		}
	}
	if err := json.Unmarshal(out, &findings); err != nil {
		t.Fatalf("cfn-lint output %q: %v", out, err)
	}
	kept := map[string]int{}
	for _, f := range findings {
		if _, ok := cfnLintKept[f.Rule.Id]; ok && f.Level == "Warning" {
			kept[f.Rule.Id]++
			continue
		}
		t.Errorf("cfn-lint %s %s at %v: %s", f.Level, f.Rule.Id, f.Location.Path, f.Message)
	}
	for id, n := range kept {
		t.Logf("cfn-lint: %d x %s kept: %s", n, id, cfnLintKept[id])
	}
	// The exit status is a bit mask (2 errors, 4 warnings, 8 informational):
	// it must agree with the findings read above.
	if exit != nil && exit.ExitCode()&^(4|8) != 0 {
		t.Errorf("cfn-lint exited with %d (an error or a failure): %s", exit.ExitCode(), exit.Stderr)
	}
}

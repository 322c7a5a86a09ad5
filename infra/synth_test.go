package main

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cdkCLI returns the pinned CDK CLI (npm ci at the repository root), or
// skips the test (fails it when CI=true).
func cdkCLI(t *testing.T) string {
	t.Helper()
	cli, err := filepath.Abs(filepath.Join("..", "node_modules", ".bin", "cdk"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cli); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CDK CLI not installed (%v): run npm ci at the repository root", err)
		}
		t.Skipf("SKIPPED: CDK CLI not installed (%v): run npm ci at the repository root", err)
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
		t.Skip("SKIPPED with -short: cdk synth builds the four Lambdas")
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
		if functions != len(functionNames) {
			t.Errorf("template has %d functions, want %d", functions, len(functionNames))
		}
	})
}

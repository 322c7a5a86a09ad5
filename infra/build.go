package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// lambdaBuilder builds Go Lambda functions for provided.al2023 on arm64 with
// the local Go toolchain (no Docker): one directory per function holding the
// `bootstrap` executable, ready for awslambda.Code_FromAsset.
type lambdaBuilder struct {
	// ModuleDir is the Go module root (where go.mod is).
	ModuleDir string
	// OutDir receives OutDir/<name>/bootstrap.
	OutDir string
}

// Build compiles the main package pkg (e.g. "./functions/copy-file") and
// returns the directory holding its bootstrap. The build is reproducible
// (-trimpath, no VCS stamp), so an unchanged function keeps its asset hash and
// `cdk diff` shows no change.
func (b lambdaBuilder) Build(name, pkg string) (string, error) {
	dir, err := filepath.Abs(filepath.Join(b.OutDir, name))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	cmd := exec.Command("go", "build",
		"-tags", "lambda.norpc",
		"-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w",
		"-o", filepath.Join(dir, "bootstrap"),
		pkg)
	cmd.Dir = b.ModuleDir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build Lambda %s (go build %s for linux/arm64): %w\n%s", name, pkg, err, out.String())
	}
	return dir, nil
}

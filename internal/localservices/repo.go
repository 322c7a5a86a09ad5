package localservices

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FindRepoRoot returns the nearest directory at or above dir holding both
// go.mod and package.json: the repository root, where node_modules lives.
func FindRepoRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if isFile(filepath.Join(d, "go.mod")) && isFile(filepath.Join(d, "package.json")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no repository root (go.mod and package.json) at or above %s", abs)
		}
	}
}

// ErrNodeModulesMissing reports that `npm ci` has not been run.
var ErrNodeModulesMissing = errors.New("node_modules is missing")

// CheckNodeModules reports whether the engine and PGlite packages are
// installed under root.
func CheckNodeModules(root string) error {
	for _, p := range []string{
		"node_modules/aws-local-stepfunctions/package.json",
		"node_modules/@electric-sql/pglite-socket/package.json",
	} {
		if !isFile(filepath.Join(root, p)) {
			return fmt.Errorf("%w: %s not found (run `npm ci` in %s)", ErrNodeModulesMissing, p, root)
		}
	}
	return nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Package testenv stops a test whose real peer or tool is missing, such as
// Postgres, moto or the CDK CLI. It skips loudly, or fails under CI=true:
// CI must not pass by skipping.
package testenv

import (
	"os"
	"testing"
)

// Unavailable stops t because what it needs is missing. It skips with
// "SKIPPED: " and why, or fails naming why when CI=true. why says what is
// missing and how to provide it.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why + " (CI=true: a missing peer fails the test)")
		return
	}
	t.Skip("SKIPPED: " + why)
}

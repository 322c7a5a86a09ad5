// Package envtest checks, for the tests of a function's Config, that the
// environment its Env renders reads back as the same Config, so the CDK app
// (which deploys cfg.Env()) and the Lambda (which reads ConfigFromEnv) agree
// on every setting.
package envtest

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Case is one Config to round-trip, named for its subtest.
type Case[C any] struct {
	Name string
	Cfg  C
}

// EveryFieldSet fails t for each field of set that equals the same field of
// base (described as baseName in the message), so a field added to the
// Config without a variable in Env is caught once the test sets it.
func EveryFieldSet[C any](t *testing.T, baseName string, base, set C) {
	t.Helper()
	b, s := reflect.ValueOf(base), reflect.ValueOf(set)
	for i := range b.NumField() {
		if reflect.DeepEqual(b.Field(i).Interface(), s.Field(i).Interface()) {
			t.Errorf("%s is %s: set it to another value so the round trip covers it", b.Type().Field(i).Name, baseName)
		}
	}
}

// RoundTrip checks, in a subtest per case, that parse reads render's
// environment back as the case's Config (compared with opts).
func RoundTrip[C any](t *testing.T, render func(C) map[string]string, parse func(getenv func(string) string) (C, error), cases []Case[C], opts ...cmp.Option) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			env := render(tc.Cfg)
			got, err := parse(func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("ConfigFromEnv(Env()): %v (env %v)", err, env)
			}
			if diff := cmp.Diff(tc.Cfg, got, opts...); diff != "" {
				t.Errorf("ConfigFromEnv(cfg.Env()) differs from cfg (-cfg +got):\n%s", diff)
			}
		})
	}
}

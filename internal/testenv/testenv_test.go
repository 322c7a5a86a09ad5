package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// stopRecorder records how Unavailable stopped a test.
type stopRecorder struct {
	testing.TB
	how, msg string
}

func (r *stopRecorder) Helper()           {}
func (r *stopRecorder) Fatal(args ...any) { r.how, r.msg = "fatal", fmt.Sprint(args...) }
func (r *stopRecorder) Skip(args ...any)  { r.how, r.msg = "skip", fmt.Sprint(args...) }

// Unavailable skips outside CI and fails under CI=true, naming what is
// missing either way.
func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		ci, want string
	}{{"", "skip"}, {"false", "skip"}, {"true", "fatal"}} {
		t.Setenv("CI", tc.ci)
		r := &stopRecorder{}
		Unavailable(r, "the peer is missing")
		if r.how != tc.want || !strings.Contains(r.msg, "the peer is missing") {
			t.Errorf("CI=%q: Unavailable stopped with %s(%q), want %s naming the peer", tc.ci, r.how, r.msg, tc.want)
		}
	}
}

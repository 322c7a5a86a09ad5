package jobseed_test

import (
	"regexp"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
)

func TestNewRequestIDIsAVersion4UUID(t *testing.T) {
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := jobseed.NewRequestID(), jobseed.NewRequestID()
	if !v4.MatchString(a) || a == b {
		t.Errorf("NewRequestID() = %q, %q: want two different version 4 UUIDs", a, b)
	}
}

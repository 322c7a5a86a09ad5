package childproc

import (
	"strings"
	"sync"
	"testing"
)

func TestOutput(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{name: "unbounded keeps everything", writes: []string{"abc", "def"}, want: "abcdef"},
		{name: "tail keeps the last Max bytes", max: 4, writes: []string{"abc", "def"}, want: "cdef"},
		{name: "tail drops a rune cut at the front", max: 4, writes: []string{"xé", "abc"}, want: "abc"},
		{name: "tail under Max keeps all", max: 10, writes: []string{"ab"}, want: "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &Output{Max: tc.max}
			for _, w := range tc.writes {
				if n, err := o.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := o.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// Concurrent writers and readers (run with -race) lose nothing.
func TestOutputConcurrent(t *testing.T) {
	var o Output
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				o.Write([]byte("x"))
				_ = o.String()
			}
		}()
	}
	wg.Wait()
	if got := o.String(); got != strings.Repeat("x", 400) {
		t.Errorf("got %d bytes, want 400", len(got))
	}
}

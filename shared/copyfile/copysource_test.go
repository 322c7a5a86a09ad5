package copyfile

import (
	"net/url"
	"strings"
	"testing"
)

func TestCopySource(t *testing.T) {
	tests := []struct {
		name, bucket, key, want string
	}{
		{"plain", "restore", "file.txt", "restore/file.txt"},
		{"space", "restore", "my file.txt", "restore/my%20file.txt"},
		{"plus", "restore", "a+b.txt", "restore/a%2Bb.txt"},
		{"percent", "restore", "100%.txt", "restore/100%25.txt"},
		{"equals ampersand question", "restore", "k=v&x?y", "restore/k%3Dv%26x%3Fy"},
		{"non-ASCII", "restore", "données/ünï.h5", "restore/donn%C3%A9es/%C3%BCn%C3%AF.h5"},
		{"deep prefix kept", "restore", "a/b/c/d/e/f.nc", "restore/a/b/c/d/e/f.nc"},
		{"unreserved kept", "restore", "A-Z_a.z~0-9", "restore/A-Z_a.z~0-9"},
		{"hash colon comma", "restore", "x#1:2,3;4", "restore/x%231%3A2%2C3%3B4"},
		{"leading slash and double slash", "restore", "/a//b", "restore//a//b"},
		{"control and quote", "restore", "a\tb\"c'", "restore/a%09b%22c%27"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CopySource(tc.bucket, tc.key)
			if got != tc.want {
				t.Errorf("CopySource(%q, %q) = %q, want %q", tc.bucket, tc.key, got, tc.want)
			}
			// S3 decodes it once: the key must come back exactly.
			if _, enc, _ := strings.Cut(got, "/"); mustUnescape(t, enc) != tc.key {
				t.Errorf("decoding %q does not give the key back", got)
			}
		})
	}
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	k, err := url.PathUnescape(s)
	if err != nil {
		t.Fatalf("PathUnescape(%q): %v", s, err)
	}
	return k
}

func TestEncodeTagging(t *testing.T) {
	got := encodeTagging([][2]string{{"project", "x y"}, {"a+b", "c=d&e/f"}, {"ü", ""}})
	want := "project=x%20y&a%2Bb=c%3Dd%26e%2Ff&%C3%BC="
	if got != want {
		t.Errorf("encodeTagging = %q, want %q", got, want)
	}
}

func FuzzCopySource(f *testing.F) {
	for _, k := range []string{"a b", "a+b", "%", "ü/ö", "?&="} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		got := CopySource("b", key)
		_, enc, _ := strings.Cut(got, "/")
		if k, err := url.PathUnescape(enc); err != nil || k != key {
			t.Fatalf("CopySource(b, %q) = %q decodes to %q, %v", key, got, k, err)
		}
	})
}

package localservices

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEmbeddedS3Defaults(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string // variable -> value the Lambdas get
	}{
		{name: "unset: checksum off", want: map[string]string{"MULTIPART_CHECKSUM": "off"}},
		{name: "blank counts as unset", env: map[string]string{"MULTIPART_CHECKSUM": "  "}, want: map[string]string{"MULTIPART_CHECKSUM": "off"}},
		{name: "explicit source respected", env: map[string]string{"MULTIPART_CHECKSUM": "source"}, want: map[string]string{}},
		{name: "explicit off left alone", env: map[string]string{"MULTIPART_CHECKSUM": "off"}, want: map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defaults := embeddedS3Defaults(func(k string) string { return tc.env[k] })
			got := map[string]string{}
			for name, d := range defaults {
				got[name] = d.value
				if !strings.Contains(d.why, name+"="+d.value) || !strings.Contains(d.why, "versitygw") {
					t.Errorf("%s: reason %q does not name the setting and the server", name, d.why)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("defaults (-want +got):\n%s", diff)
			}
		})
	}
}

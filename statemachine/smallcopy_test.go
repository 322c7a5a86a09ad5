package statemachine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSmallCopyIsCopyFileOnCopyFileExpress: "Copy small file" is "Copy
// file" with copy-file-express as its Resource: the same Parameters
// (check_archive, retry_count, max_retries...), TimeoutSeconds, ResultPath,
// Retry, Catch and Next, whatever the settings.
func TestSmallCopyIsCopyFileOnCopyFileExpress(t *testing.T) {
	custom := DefaultSettings()
	custom.CopyRetries, custom.CopyRetrySleepSecs, custom.CopyTaskTimeoutSecs = 5, 7, 1000
	for name, s := range map[string]Settings{"defaults": DefaultSettings(), "custom": custom} {
		t.Run(name, func(t *testing.T) {
			def, err := Render(withARNs(s))
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(def, &doc); err != nil {
				t.Fatal(err)
			}
			child := findState(doc, StandardLaneMap)["ItemProcessor"].(map[string]any)["States"].(map[string]any)
			std, small := child[StandardCopyState].(map[string]any), child[StandardSmallCopyState].(map[string]any)
			if std == nil || small == nil {
				t.Fatalf("the Standard child has no %q or no %q", StandardCopyState, StandardSmallCopyState)
			}
			if got := small["Resource"]; got != copyExpressARN {
				t.Errorf("%s Resource = %v, want copy-file-express (%s)", StandardSmallCopyState, got, copyExpressARN)
			}
			if got := std["Resource"]; got != copyARN {
				t.Errorf("%s Resource = %v, want copy-file (%s)", StandardCopyState, got, copyARN)
			}
			but := func(st map[string]any) map[string]any {
				out := map[string]any{}
				for k, v := range st {
					if k != "Resource" && k != "Comment" {
						out[k] = v
					}
				}
				return out
			}
			if diff := cmp.Diff(but(std), but(small)); diff != "" {
				t.Errorf("%s differs from %s beyond Resource and Comment (-%s +%s):\n%s", StandardSmallCopyState, StandardCopyState, StandardCopyState, StandardSmallCopyState, diff)
			}
		})
	}
}

// TestSmallCopyRoutes runs the Standard child's "Small copy?", cut from the
// rendered definition, on both local engines, over items as the Standard
// lane's ItemSelector gives them ($.file, $.copy) and some it never gives
// (a missing or non-numeric size, a missing or null token), each routed
// to a Pass state named as the task it stands for: a file whose size is a
// number above 0 and at most StandardSmallCopyMaxBytes, with no resume
// token (upload_id absent, null or ""), goes to "Copy small file"; every
// other to "Copy file", and none fails the Choice (a comparison on a
// missing path would, with States.Runtime).
func TestSmallCopyRoutes(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(def, &doc); err != nil {
		t.Fatal(err)
	}
	child := findState(doc, StandardLaneMap)["ItemProcessor"].(map[string]any)
	choice := child["States"].(map[string]any)[smallCopyChoice].(map[string]any)
	if got := child["States"].(map[string]any)["Find open job"].(map[string]any)["Next"]; got != smallCopyChoice {
		t.Fatalf("Find open job's Next = %v, want %q", got, smallCopyChoice)
	}

	noToken := map[string]any{"complete": false, "upload_id": "", "source_etag": "", "source_version_id": "", "part_size": 0, "passes": 0, "elapsed_ms": 0}
	withToken := map[string]any{"complete": false, "upload_id": "u1", "source_etag": "\"e\"", "source_version_id": "", "part_size": 5 << 20, "passes": 1, "elapsed_ms": 45000}
	file := func(size any) map[string]any {
		f := map[string]any{"source_bucket": "restore", "source_key": "k", "version_id": "", "etag": ""}
		if size != nil {
			f["size"] = size
		}
		return f
	}
	without := func(m map[string]any, key string) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			if k != key {
				out[k] = v
			}
		}
		return out
	}
	with := func(m map[string]any, key string, v any) map[string]any {
		out := without(m, key)
		out[key] = v
		return out
	}
	const most = StandardSmallCopyMaxBytes
	cases := []struct {
		name string
		item map[string]any
		want string
	}{
		{"1 KiB, no token", map[string]any{"file": file(1024), "copy": noToken}, StandardSmallCopyState},
		{"1 byte, no token", map[string]any{"file": file(1), "copy": noToken}, StandardSmallCopyState},
		{"StandardSmallCopyMaxBytes, no token", map[string]any{"file": file(most), "copy": noToken}, StandardSmallCopyState},
		{"one byte more", map[string]any{"file": file(most + 1), "copy": noToken}, StandardCopyState},
		{"5 GiB", map[string]any{"file": file(5 << 30), "copy": noToken}, StandardCopyState},
		{"size 0 (the event gave none)", map[string]any{"file": file(0), "copy": noToken}, StandardCopyState},
		{"negative size", map[string]any{"file": file(-1), "copy": noToken}, StandardCopyState},
		{"no size", map[string]any{"file": file(nil), "copy": noToken}, StandardCopyState},
		{"size null", map[string]any{"file": with(file(nil), "size", nil), "copy": noToken}, StandardCopyState},
		{"size a string", map[string]any{"file": file("1024"), "copy": noToken}, StandardCopyState},
		{"no file", map[string]any{"copy": noToken}, StandardCopyState},
		{"small with a resume token", map[string]any{"file": file(1024), "copy": withToken}, StandardCopyState},
		{"large with a resume token", map[string]any{"file": file(most + 1), "copy": withToken}, StandardCopyState},
		{"small, upload_id null", map[string]any{"file": file(1024), "copy": with(noToken, "upload_id", nil)}, StandardSmallCopyState},
		{"small, no upload_id", map[string]any{"file": file(1024), "copy": without(noToken, "upload_id")}, StandardSmallCopyState},
		{"small, no copy", map[string]any{"file": file(1024)}, StandardSmallCopyState},
	}

	// One inline Map runs every item through the Choice; each target is a
	// Pass state whose output is its own name.
	routed := map[string]any{}
	for _, target := range []string{StandardSmallCopyState, StandardCopyState} {
		routed[target] = map[string]any{"Type": "Pass", "Result": target, "End": true}
	}
	routed[smallCopyChoice] = choice
	machine := mustJSON(t, map[string]any{
		"Comment": "TestSmallCopyRoutes: the Standard child's Small copy?, each target a Pass state.",
		"StartAt": "Each item",
		"States": map[string]any{"Each item": map[string]any{
			"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
			"ItemProcessor": map[string]any{"ProcessorConfig": map[string]any{"Mode": "INLINE"}, "StartAt": smallCopyChoice, "States": routed},
			"End":           true,
		}},
	})
	items := make([]map[string]any, len(cases))
	for i, tc := range cases {
		items[i] = tc.item
	}
	input := string(mustJSON(t, map[string]any{"items": items}))

	for engine, run := range map[string]func(t *testing.T) engineRun{
		"moto": func(t *testing.T) engineRun {
			if testing.Short() {
				t.Skip("runs moto (about 5 s)")
			}
			r := runOnMoto(t, motoPython(t), machine, input, "{}")
			return engineRun{Status: r.Status, Output: r.Output, Trace: strings.Join(r.Events, "\n")}
		},
		"aws-local-stepfunctions": func(t *testing.T) engineRun { return runOnNode(t, machine, input, "{}") },
	} {
		t.Run(engine, func(t *testing.T) {
			r := run(t)
			if r.Status != "SUCCEEDED" {
				t.Fatalf("%s, want SUCCEEDED: %s\n%s", r.Status, r.Output, r.Trace)
			}
			var got []string
			if err := json.Unmarshal([]byte(r.Output), &got); err != nil || len(got) != len(cases) {
				t.Fatalf("output %s: %v; want one target per item (%d)", r.Output, err, len(cases))
			}
			for i, tc := range cases {
				if got[i] != tc.want {
					t.Errorf("%s: routed to %q, want %q", tc.name, got[i], tc.want)
				}
			}
		})
	}
}

// smallCopyChoice is the Standard child's Choice before its copy tasks.
const smallCopyChoice = "Small copy?"

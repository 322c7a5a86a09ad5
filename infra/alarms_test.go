package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAlarmsHaveOneHome: every alarm of the stack is made in alarms.go
// (NewAlarm, called by NewWorkflowAlarms and NewReconcileAlarms), so a new
// alarm is added in one place with the stack's one threshold, name pattern
// and topic (README's recipe "Add an alarm").
func TestAlarmsHaveOneHome(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in infra (%v)", err)
	}
	for _, f := range files {
		if f == "alarms.go" || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"NewAlarm(", "AddAlarmAction(", "NewSnsAction("} {
			if strings.Contains(string(b), call) {
				t.Errorf("%s calls %s: make the alarm in alarms.go", f, call)
			}
		}
	}
}

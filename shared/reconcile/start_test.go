package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// answerStarter answers StartExecution with out and err, keeping the input.
type answerStarter struct {
	in  *sfn.StartExecutionInput
	out *sfn.StartExecutionOutput
	err error
}

func (a *answerStarter) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	a.in = in
	return a.out, a.err
}

// Start starts what Planned names (the dry run of cmd/recovery rerun shows
// the same name and input), and tells apart a new execution, one started
// before with the same input (an earlier start date), a name taken, and a
// refusal.
func TestCopyStarterStartsWhatItPlans(t *testing.T) {
	files := []FileRef{{RequestID: "r2", Bucket: "b", Key: "k2"}, {RequestID: "r1", Bucket: "b", Key: "k1"}}
	event := []contract.File{{SourceBucket: "b", SourceKey: "k2", Size: 2}, {SourceBucket: "b", SourceKey: "k1", Size: 1}}
	arnOut := aws.String("arn:aws:states:us-east-1:123456789012:execution:copy:x")
	tests := []struct {
		name        string
		out         *sfn.StartExecutionOutput
		err         error
		wantARN     string
		wantAlready bool
		wantErr     bool
	}{
		{"new", &sfn.StartExecutionOutput{ExecutionArn: arnOut, StartDate: aws.Time(time.Now())}, nil, *arnOut, false, false},
		{"open with the same input", &sfn.StartExecutionOutput{ExecutionArn: arnOut, StartDate: aws.Time(time.Now().Add(-time.Minute))}, nil, *arnOut, true, false},
		{"name taken", nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("exists")}, "", true, false},
		{"refused", nil, &sfntypes.InvalidArn{Message: aws.String("bad")}, "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sf := &answerStarter{out: tc.out, err: tc.err}
			c := CopyStarter{SFN: sf, StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:copy", Prefix: "rerun", Window: "20261202T0400"}
			plan := c.Planned(files, event)
			x := c.Start(context.Background(), files, event)
			if plan.Name != ExecutionName("rerun", "20261202T0400", []string{"r1", "r2"}) || x.Name != plan.Name ||
				aws.ToString(sf.in.Name) != plan.Name || aws.ToString(sf.in.Input) != string(plan.Input) ||
				aws.ToString(sf.in.StateMachineArn) != c.StateMachineARN {
				t.Errorf("started %s %s with %s; planned %s with %s", aws.ToString(sf.in.StateMachineArn), aws.ToString(sf.in.Name),
					aws.ToString(sf.in.Input), plan.Name, plan.Input)
			}
			if diff := cmp.Diff(files, x.Files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if x.ARN != tc.wantARN || x.AlreadyStarted != tc.wantAlready || (x.Error != "") != tc.wantErr {
				t.Errorf("ARN %q, already started %v, error %q; want %q, %v, error %v", x.ARN, x.AlreadyStarted, x.Error, tc.wantARN, tc.wantAlready, tc.wantErr)
			}
		})
	}
}

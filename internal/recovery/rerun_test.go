package recovery_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// starter records the executions started.
type starter struct {
	mu     sync.Mutex
	inputs map[string]string
}

var _ reconcile.ExecutionStarter = (*starter)(nil)

func (s *starter) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inputs == nil {
		s.inputs = map[string]string{}
	}
	s.inputs[aws.ToString(in.Name)] = aws.ToString(in.Input)
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:x:" + aws.ToString(in.Name)), StartDate: aws.Time(time.Now())}, nil
}

// rerun of a group's failed files on moto's S3: the restored ones go in one
// execution, the archived one is left with the reason, no row changes;
// --dry-run starts nothing.
func TestRerunFailedFiles(t *testing.T) {
	srv := s3server.StartMotoForTest(t, "restore", "archive")
	url, db := seededDB(t)
	ctx := context.Background()
	c, _ := srv.Client(ctx)
	put := func(key string, class s3types.StorageClass) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restore"), Key: aws.String(key),
			Body: bytes.NewReader([]byte(key)), StorageClass: class}); err != nil {
			t.Fatal(err)
		}
	}
	group := jobseed.NewRequestID()
	old := time.Now().Add(-recovery.DefaultStuckGrace - 3*time.Hour) // stuck past --grace's default
	row := func(key, status string) jobseed.Row {
		return insert(t, db, jobseed.Row{RequestGroupID: group, ObjectKey: key, JobStatus: status, ErrMsg: "boom",
			RestoreBucketDest: "restore", ArchiveBucketDest: "archive", RequestTime: old, LastUpdateTime: old})
	}
	put("ok-1.dat", s3types.StorageClassStandard)
	put("ok-2.dat", s3types.StorageClassStandard)
	put("cold.dat", s3types.StorageClassGlacier)
	jobs := []jobseed.Row{row("ok-1.dat", "error"), row("ok-2.dat", "error"), row("cold.dat", "error")}
	stuck := row("stuck.dat", "inprogress")
	insert(t, db, jobseed.Row{ObjectKey: "ok-1.dat", JobStatus: "error", ArchiveBucketDest: "archive"}) // another group

	sf := &starter{}
	rep, err := recovery.Rerun(ctx, recovery.Clients{DB: db, S3: c, SFN: sf}, recovery.RerunOptions{
		Selector: recovery.Selector{RequestGroupID: group}, Failed: true, StateMachineARN: "arn:aws:states:us-east-1:1:stateMachine:copy",
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Selected != 3 || rep.Waiting != 2 || len(rep.Executions) != 1 || len(rep.Left) != 1 || rep.Left[0].Key != "cold.dat" {
		t.Fatalf("report %+v: want 3 selected, ok-1 and ok-2 in one execution, cold.dat left", rep)
	}
	if !strings.Contains(rep.Left[0].Why, "not restored") {
		t.Errorf("cold.dat left because %q, want it to say not restored", rep.Left[0].Why)
	}
	for name, input := range sf.inputs {
		files, err := parseevent.ParseEvent([]byte(input))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, f := range files {
			keys = append(keys, f.SourceBucket+"/"+f.SourceKey)
		}
		if diff := cmp.Diff([]string{"restore/ok-1.dat", "restore/ok-2.dat"}, sorted(keys)); diff != "" || !strings.HasPrefix(name, "rerun-") {
			t.Errorf("execution %s files (-want +got):\n%s", name, diff)
		}
	}
	for _, j := range append(jobs, stuck) {
		got, _ := jobseed.Read(ctx, db, j.RequestID)
		if got.JobStatus != j.JobStatus || got.ErrMsg != j.ErrMsg {
			t.Errorf("%s changed to %q %q", j.ObjectKey, got.JobStatus, got.ErrMsg)
		}
	}

	// The command line, --stuck --dry-run: the stuck row's object is
	// missing, so nothing would start; nothing is started.
	var stdout, stderr bytes.Buffer
	env := map[string]string{"DATABASE_URL": url, "AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_REGION": srv.Region,
		"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}
	for k, v := range env {
		t.Setenv(k, v) // the AWS SDK reads the credentials from the process
	}
	cli := &recovery.CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	code := cli.Main(ctx, []string{"rerun", "--request-group", group, "--failed", "--stuck", "--dry-run"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"4 rows selected, 2 restored and re-run, 2 left", "left stuck.dat", "no object", "would start (dry run)", "s3://restore/ok-2.dat"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if code := cli.Main(ctx, []string{"rerun", "--failed"}); code != 2 || !strings.Contains(stderr.String(), "--state-machine-arn") {
		t.Errorf("rerun without an ARN: exit %d, stderr %q; want 2 naming --state-machine-arn", code, stderr.String())
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// status asks S3 about the waiting files' restores and lists those whose
// restored copy expires within 24 hours or has expired.
func TestStatusExpiringRestores(t *testing.T) {
	srv := s3server.StartMotoForTest(t, "restore")
	_, db := seededDB(t)
	ctx := context.Background()
	c, _ := srv.Client(ctx)
	group := jobseed.NewRequestID()
	for key, days := range map[string]int32{"soon.dat": 1, "later.dat": 5, "gone.dat": -1} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restore"), Key: aws.String(key),
			Body: bytes.NewReader([]byte(key)), StorageClass: s3types.StorageClassGlacier}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RestoreObject(ctx, &s3.RestoreObjectInput{Bucket: aws.String("restore"), Key: aws.String(key),
			RestoreRequest: &s3types.RestoreRequest{Days: aws.Int32(days)}}); err != nil {
			t.Fatal(err)
		}
		insert(t, db, jobseed.Row{RequestGroupID: group, ObjectKey: key, ArchiveBucketDest: "archive"}) // no restore_bucket_dest
	}
	st, err := recovery.ReadStatus(ctx, recovery.Clients{DB: db, S3: c}, recovery.Selector{RequestGroupID: group},
		recovery.StatusOptions{CheckRestores: 10, RestoreBuckets: []string{"restore"}, Now: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range st.Expiring {
		got[e.Key] = e.State
	}
	if diff := cmp.Diff(map[string]string{"soon.dat": "waiting", "gone.dat": "expired"}, got); diff != "" || st.RestoresChecked != 3 {
		t.Errorf("expiring (-want +got):\n%s\nchecked %d, want 3", diff, st.RestoresChecked)
	}
}

// TestRerunBatchWithinHistoryQuota: rerun starts no execution of more files
// than reconcile.MaxFilesPerExecutionLimit (the default workflow's history
// bound), by default or when asked for more.
func TestRerunBatchWithinHistoryQuota(t *testing.T) {
	_, err := recovery.Rerun(context.Background(), recovery.Clients{}, recovery.RerunOptions{
		Failed: true, DryRun: true, Selector: recovery.Selector{RequestGroupID: "0f8fad5b-d9cb-469f-a165-70867728950e"},
		MaxFilesPerExecution: reconcile.MaxFilesPerExecutionLimit + 1,
	})
	if err == nil || !strings.Contains(err.Error(), "25,000 history events") {
		t.Errorf("rerun of %d files per execution: err = %v, want a refusal naming the history quota", reconcile.MaxFilesPerExecutionLimit+1, err)
	}
}

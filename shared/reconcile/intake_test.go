package reconcile_test

// The sweep's hold-off during an intake backlog: with a fake age reader
// against the real database and moto's S3 (sweep_test.go's world), and the
// CloudWatch reader against moto's CloudWatch.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// fakeIntakeAge answers with age (or err) and records the times asked.
type fakeIntakeAge struct {
	age   reconcile.IntakeAge
	err   error
	asked []time.Time
}

func (f *fakeIntakeAge) OldestMessageAge(_ context.Context, now time.Time) (reconcile.IntakeAge, error) {
	f.asked = append(f.asked, now)
	return f.age, f.err
}

func TestSweepHoldsOffDuringAnIntakeBacklog(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	// A restored file no event copied: a sweep that runs starts its copy.
	w.put(restoreBucket, "backlogged.dat", s3types.StorageClassStandard)
	job := w.insert("backlogged.dat", "inprogress", 2*time.Hour, nil)
	grace := 5 * time.Minute
	known := func(age time.Duration) reconcile.IntakeAge {
		return reconcile.IntakeAge{Known: true, Age: age, At: time.Now().Add(-time.Minute)}
	}

	t.Run("oldest message older than the intake grace: nothing listed, nothing started, held_off with the age", func(t *testing.T) {
		ages := &fakeIntakeAge{age: known(grace + time.Second)}
		r := w.reconciler(reconcile.Config{IntakeGrace: grace})
		r.IntakeAge = ages
		rep, err := r.Sweep(w.ctx)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if !rep.HeldOff || rep.IntakeOldestAgeSecs == nil || *rep.IntakeOldestAgeSecs != 301 || rep.Stuck != 0 || rep.Started != 0 {
			t.Errorf("report: held off %v, age %v, stuck %d, started %d; want held off at 301 s, nothing listed or started",
				rep.HeldOff, rep.IntakeOldestAgeSecs, rep.Stuck, rep.Started)
		}
		if len(ages.asked) != 1 {
			t.Errorf("age asked %d times, want once", len(ages.asked))
		}
		if len(w.start.order) != 0 {
			t.Errorf("executions started while held off: %v", w.start.order)
		}
		if diff := cmp.Diff(job, w.row(job.RequestID)); diff != "" {
			t.Errorf("row changed while held off (-before +after):\n%s", diff)
		}
	})

	t.Run("oldest message within the grace, no message, or the age unknown: the sweep runs", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			ages    *fakeIntakeAge
			wantAge *int64
			warning string
		}{
			{"within the grace", &fakeIntakeAge{age: known(grace)}, aws.Int64(300), ""},
			{"no datapoint (no message waited)", &fakeIntakeAge{}, nil, ""},
			{"CloudWatch refused", &fakeIntakeAge{err: errors.New("AccessDenied")}, nil, "intake age unknown, the sweep went on: AccessDenied"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := w.reconciler(reconcile.Config{IntakeGrace: grace})
				r.IntakeAge = tc.ages
				r.Config.Grace = time.Nanosecond // lists the row again after a previous case's claim
				rep, err := r.Sweep(w.ctx)
				if err != nil {
					t.Fatalf("Sweep: %v", err)
				}
				if rep.HeldOff || rep.Stuck != 1 || rep.Started+rep.AlreadyStarted != 1 {
					t.Errorf("report: held off %v, stuck %d, started %d, already started %d; want the row swept",
						rep.HeldOff, rep.Stuck, rep.Started, rep.AlreadyStarted)
				}
				if diff := cmp.Diff(tc.wantAge, rep.IntakeOldestAgeSecs); diff != "" {
					t.Errorf("intake_oldest_age_secs (-want +got):\n%s", diff)
				}
				if got := strings.Join(rep.Warnings, "; "); tc.warning != "" && !strings.Contains(got, tc.warning) || tc.warning == "" && got != "" {
					t.Errorf("warnings %q, want %q", got, tc.warning)
				}
			})
		}
		if row := w.row(job.RequestID); !strings.HasPrefix(row.ErrMsg, reconcile.MarkStarted) {
			t.Errorf("row err_msg %q, want the sweep's claim", row.ErrMsg)
		}
		if len(w.start.order) != 1 {
			t.Errorf("%d executions, want 1 (one window, the same file)", len(w.start.order))
		}
	})
}

// fakeMetrics answers GetMetricData with its datapoints of the one
// metric CloudWatchIntakeAge must ask for, those within the asked window,
// and records the request.
type fakeMetrics struct {
	points map[string][]cwtypes.Datapoint // by queue name
	asked  *cloudwatch.GetMetricDataInput
}

func (f *fakeMetrics) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.asked = in
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		m := q.MetricStat.Metric
		if aws.ToString(m.Namespace) != "AWS/SQS" || aws.ToString(m.MetricName) != "ApproximateAgeOfOldestMessage" ||
			len(m.Dimensions) != 1 || aws.ToString(m.Dimensions[0].Name) != "QueueName" {
			return nil, errors.New("not the SQS age metric of one queue")
		}
		r := cwtypes.MetricDataResult{Id: q.Id}
		for _, p := range f.points[aws.ToString(m.Dimensions[0].Value)] {
			if !p.Timestamp.Before(*in.StartTime) && p.Timestamp.Before(*in.EndTime) {
				r.Timestamps, r.Values = append(r.Timestamps, *p.Timestamp), append(r.Values, *p.Maximum)
			}
		}
		out.MetricDataResults = append(out.MetricDataResults, r)
	}
	return out, nil
}

// CloudWatchIntakeAge reads the newest minute's Maximum of AWS/SQS
// ApproximateAgeOfOldestMessage for its queue within the look-back.
// (moto 5.2.1 has CloudWatch, but not the Smithy RPC v2 CBOR protocol that
// aws-sdk-go-v2's CloudWatch client speaks since v1.53.0: it answers 404,
// so the client's wire call is not tried here.)
func TestCloudWatchIntakeAge(t *testing.T) {
	now := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	point := func(ago time.Duration, secs float64) cwtypes.Datapoint {
		return cwtypes.Datapoint{Timestamp: aws.Time(now.Add(-ago)), Maximum: aws.Float64(secs)}
	}
	cw := &fakeMetrics{points: map[string][]cwtypes.Datapoint{
		"intake": {point(6*time.Minute, 120), point(2*time.Minute, 900), point(30*time.Minute, 5000)},
		"other":  {point(time.Minute, 7000)},
	}}
	got, err := reconcile.CloudWatchIntakeAge{CloudWatch: cw, QueueName: "intake"}.OldestMessageAge(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	// The newest datapoint within the look-back: the backlog grew.
	if want := (reconcile.IntakeAge{Known: true, Age: 900 * time.Second, At: now.Add(-2 * time.Minute)}); got != want {
		t.Errorf("age %+v, want %+v", got, want)
	}
	q := cw.asked.MetricDataQueries[0].MetricStat
	if aws.ToInt32(q.Period) != 60 || aws.ToString(q.Stat) != "Maximum" || !cw.asked.EndTime.Equal(now) ||
		!cw.asked.StartTime.Equal(now.Add(-reconcile.IntakeAgeLookBack)) || aws.ToString(q.Metric.Dimensions[0].Value) != "intake" {
		t.Errorf("asked %+v for %+v", cw.asked, q)
	}
	idle, err := reconcile.CloudWatchIntakeAge{CloudWatch: cw, QueueName: "idle"}.OldestMessageAge(context.Background(), now)
	if err != nil || idle.Known {
		t.Errorf("a queue without datapoints: %+v, %v; want unknown, no error", idle, err)
	}
}

func TestQueueNameOf(t *testing.T) {
	for url, want := range map[string]string{
		"https://sqs.us-east-1.amazonaws.com/123456789012/CopyFilesToArchive-IntakeQueue-AbC": "CopyFilesToArchive-IntakeQueue-AbC",
		"http://127.0.0.1:4566/000000000000/intake/":                                          "intake",
		"intake": "",
	} {
		if got := reconcile.QueueNameOf(url); got != want {
			t.Errorf("QueueNameOf(%q) = %q, want %q", url, got, want)
		}
	}
}

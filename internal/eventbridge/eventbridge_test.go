package eventbridge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/pipetel/pipetel/internal/eventbridge"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// faulty answers PutEvents, failing the entries whose detail fail names as often as it says
// (-1: always), and records what it was sent.
type faulty struct {
	fail  map[string]int
	calls [][]string // details per call
	err   error      // returned by every call when set
}

func (f *faulty) PutEvents(_ context.Context, in *sdk.PutEventsInput, _ ...func(*sdk.Options)) (*sdk.PutEventsOutput, error) {
	var details []string
	out := &sdk.PutEventsOutput{}
	for _, e := range in.Entries {
		d := aws.ToString(e.Detail)
		details = append(details, d)
		if aws.ToString(e.Source) != "pipetel" || aws.ToString(e.EventBusName) != "default" || aws.ToString(e.DetailType) != "pipetel anomaly silence" {
			return nil, fmt.Errorf("entry %+v", e)
		}
		if n := f.fail[d]; n != 0 {
			f.fail[d] = n - 1
			out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("slow down")})
			out.FailedEntryCount++
			continue
		}
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String("id-" + d)})
	}
	f.calls = append(f.calls, details)
	return out, f.err
}

// sizedAlerts are n alerts whose details are padded to at least pad bytes.
func sizedAlerts(n, pad int) []telemetry.Alert {
	var out []telemetry.Alert
	for i := range n {
		detail := fmt.Sprintf(`{"n":%d}`, i)
		if pad > len(detail) {
			detail = fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", pad))
		}
		out = append(out, telemetry.Alert{DetailType: "pipetel anomaly silence", Detail: []byte(detail)})
	}
	return out
}

func TestPublish(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		name      string
		n         int
		pad       int // bytes of each detail
		fail      map[string]int
		err       error
		wantCalls []int  // entries per call
		wantErr   string // "" for none
	}{
		{name: "ten to a call", n: 23, wantCalls: []int{10, 10, 3}},
		// The fresh-user trial's alerts were about 37 KB each: ten would be 370 KB, over
		// PutEvents' 256 KB, and the rollup would fail and send them all again each run.
		// Six of 37 KB (with 14 for the time and 30 for source and type) fit, seven do not.
		{name: "less than 256 KB to a call", n: 23, pad: 37 << 10, wantCalls: []int{6, 6, 6, 5}},
		{name: "failed entries are resent", n: 12, fail: map[string]int{`{"n":3}`: 1, `{"n":11}`: 2}, wantCalls: []int{10, 2, 2, 1}},
		{name: "an entry that keeps failing is reported", n: 2, fail: map[string]int{`{"n":1}`: -1}, wantCalls: []int{2, 1, 1},
			wantErr: "1 of 2 alerts not put"},
		{name: "a call that fails is retried, then reported", n: 1, err: errors.New("no route"), wantCalls: []int{1, 1, 1},
			wantErr: "1 of 1 alerts not put"},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := &faulty{fail: c.fail, err: c.err}
			if api.fail == nil {
				api.fail = map[string]int{}
			}
			err := eventbridge.New(api, "default", now).Publish(t.Context(), sizedAlerts(c.n, c.pad))
			var calls []int
			for _, call := range api.calls {
				calls = append(calls, len(call))
			}
			if fmt.Sprint(calls) != fmt.Sprint(c.wantCalls) {
				t.Errorf("entries per call %v, want %v", calls, c.wantCalls)
			}
			if (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
				t.Errorf("error %v, want %q", err, c.wantErr)
			}
		})
	}
}

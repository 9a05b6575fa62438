package devserver

import (
	"slices"
	"testing"
	"time"

	"github.com/pipetel/pipetel"
	"github.com/pipetel/pipetel/internal/routes"
)

// TestDeployedTimeouts: every routed function gets the timeout template.yaml deploys it
// with (29 s today, under API Gateway's 30 s), so `make dev` cuts requests off as AWS does.
func TestDeployedTimeouts(t *testing.T) {
	var fns []string
	for _, r := range routes.All {
		fns = append(fns, r.Function)
	}
	slices.Sort(fns)
	fns = slices.Compact(fns) // a function serving several routes has one timeout
	got, err := FunctionTimeouts(pipetel.Template, fns)
	if err != nil {
		t.Fatal(err)
	}
	if got["ingest"] != 29*time.Second || len(got) != len(fns) {
		t.Errorf("timeouts %v; want ingest 29s and one per function of %v", got, fns)
	}
}

func TestFunctionTimeouts(t *testing.T) {
	const fn = "\n  IngestFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: .\n      Environment: {Variables: {T: !Ref X}}\n"
	cases := []struct {
		name, template string
		want           time.Duration
		fails          bool
	}{
		{"global", "Globals:\n  Function:\n    Timeout: 29\nResources:" + fn, 29 * time.Second, false},
		{"own over global", "Globals:\n  Function:\n    Timeout: 29\nResources:" + fn + "      Timeout: 7\n", 7 * time.Second, false},
		{"lambda default", "Resources:" + fn, 3 * time.Second, false},
		{"missing function", "Resources:\n  Other:\n    Type: AWS::Serverless::Function\n", 0, true},
		{"zero", "Resources:" + fn + "      Timeout: 0\n", 0, true},
		{"not a number", "Resources:" + fn + "      Timeout: soon\n", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := FunctionTimeouts([]byte(c.template), []string{"ingest"})
			if (err != nil) != c.fails {
				t.Fatalf("error %v, want failure %v", err, c.fails)
			}
			if got["ingest"] != c.want {
				t.Errorf("timeout %v, want %v", got["ingest"], c.want)
			}
		})
	}
}

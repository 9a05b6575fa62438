package pipetel_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEventFunctionsLinkNoAnalytics: ingest, query and pipelines never aggregate, so they must not
// link the duration sketch and the protobuf runtime it brings (about 5 MB of bootstrap
// and cold start). Only the aggregating functions (stats, anomalies, pipelinestats) do.
func TestEventFunctionsLinkNoAnalytics(t *testing.T) {
	for _, fn := range []string{"ingest", "query", "pipelines"} {
		out, err := exec.Command("go", "list", "-deps", "./functions/"+fn).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, pkg := range strings.Fields(string(out)) {
			if strings.Contains(pkg, "telemetry/analytics") || strings.Contains(pkg, "sketches-go") || strings.Contains(pkg, "protobuf") {
				t.Errorf("functions/%s links %s", fn, pkg)
			}
		}
	}
}

// TestFunctionsLinkNoTestLibraries: Prometheus's parser, kin-openapi and chromedp check
// the dashboard, the API description and the pages from tests only; a Lambda that linked
// one would carry megabytes it never runs.
func TestFunctionsLinkNoTestLibraries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, lib := range []string{"prometheus/prometheus", "getkin/kin-openapi", "chromedp"} {
			if strings.Contains(pkg, lib) {
				t.Errorf("a function links %s", pkg)
			}
		}
	}
}

// TestOnlyScheduledFunctionsLinkEventBridge: only the rollup publishes alerts. A package
// linked into a function runs its init on every cold start whether it is used or not, and
// the EventBridge client's took about 1 ms of each API function's (GODEBUG=inittrace=1).
func TestOnlyScheduledFunctionsLinkEventBridge(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	linked := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fn, deps, _ := strings.Cut(line, " ")
		linked[fn] = strings.Contains(" "+deps+" ", " github.com/aws/aws-sdk-go-v2/service/eventbridge ")
	}
	if len(linked) < 2 {
		t.Fatalf("go list found %d functions:\n%s", len(linked), out)
	}
	for fn, links := range linked {
		if scheduled := strings.HasSuffix(fn, "/functions/rollup"); links != scheduled {
			t.Errorf("%s links the EventBridge client: %v, want %v", fn, links, scheduled)
		}
	}
}

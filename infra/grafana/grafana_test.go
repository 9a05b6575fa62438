// Package grafana_test holds pipetel.json, the Grafana dashboard, to the metrics README.md
// defines. It is a test-only package, so Prometheus's parser is linked into this test and
// into no Lambda.
package grafana_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/pipetel/pipetel/infra/grafana"
)

type metric = grafana.Metric

// definedMetrics reads the metrics table of README.md: the one list of names and labels.
func definedMetrics(t *testing.T) map[string]metric {
	t.Helper()
	out := grafana.Metrics()
	if len(out) < 5 {
		t.Fatalf("README.md: found %d metrics in the table; the row format changed?", len(out))
	}
	return out
}

// series resolves a selected series name to its metric: a histogram's _bucket (with le),
// _count and _sum series belong to it.
func series(defined map[string]metric, name string) (metric, bool) {
	if m, ok := defined[name]; ok && m.Type != "histogram" {
		return m, true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if m, ok := defined[strings.TrimSuffix(name, suffix)]; ok && m.Type == "histogram" && strings.HasSuffix(name, suffix) {
			if suffix == "_bucket" {
				m.Labels = append(slices.Clone(m.Labels), "le")
			}
			return m, true
		}
	}
	return metric{}, false
}

type target struct {
	panel, legend, expr string
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a row's
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) (dashboard, []target) {
	t.Helper()
	raw, err := os.ReadFile("pipetel.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("pipetel.json: %v", err)
	}
	var out []target
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, target{panel: p.Title, legend: tg.LegendFormat, expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, out
}

// grafanaValues stand in for Grafana's variables, which PromQL itself does not have: its
// built-in intervals, and a value the dashboard's own variables could take.
var grafanaValues = map[string]string{
	"__rate_interval": "5m", "__interval": "1m", "__range": "1h",
	"runtime": ".*", "kind": "job_result",
}

var variable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// substitute replaces the dashboard's variables; an unknown one is an error, since
// Grafana would leave it in the query and Prometheus refuse it.
func substitute(expr string, own []string) (string, error) {
	var unknown []string
	out := variable.ReplaceAllStringFunc(expr, func(v string) string {
		name := variable.FindStringSubmatch(v)[1]
		if val, ok := grafanaValues[name]; ok && (strings.HasPrefix(name, "__") || slices.Contains(own, name)) {
			return val
		}
		unknown = append(unknown, v)
		return v
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("variables %v are neither Grafana's nor the dashboard's", unknown)
	}
	return out, nil
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// TestEveryExpressionParsesAndUsesDefinedMetrics: each query of the dashboard is PromQL
// Prometheus accepts; it selects only metrics README.md defines, matches and groups only
// by their labels; divides only by clamp_min(...), so an idle window is 0 and not NaN;
// and a percentile's legend names the percentile.
func TestEveryExpressionParsesAndUsesDefinedMetrics(t *testing.T) {
	defined := definedMetrics(t)
	d, targets := loadDashboard(t)
	if len(targets) < 8 {
		t.Fatalf("pipetel.json has %d queries; want the throughput, rate, duration and anomaly panels", len(targets))
	}
	var own []string
	for _, v := range d.Templating.List {
		own = append(own, v.Name)
	}
	p := parser.NewParser(parser.Options{})
	used := map[string]bool{}
	for _, tg := range targets {
		where := fmt.Sprintf("panel %q: %s", tg.panel, tg.expr)
		promql, err := substitute(tg.expr, own)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		expr, err := p.ParseExpr(promql)
		if err != nil {
			t.Errorf("%s: does not parse: %v", where, err)
			continue
		}
		var labels []string // of every metric the expression selects
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.VectorSelector:
				m, ok := series(defined, n.Name)
				if !ok {
					t.Errorf("%s: selects %q, which README.md does not define", where, n.Name)
					return nil
				}
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n.Name, "_bucket"), "_count"), "_sum")] = true
				labels = append(labels, m.Labels...)
				for _, lm := range n.LabelMatchers {
					if lm.Name != "__name__" && !slices.Contains(m.Labels, lm.Name) {
						t.Errorf("%s: matches label %q, which %s does not have (%v)", where, lm.Name, n.Name, m.Labels)
					}
				}
			case *parser.BinaryExpr:
				if n.Op == parser.DIV {
					if c, ok := unparen(n.RHS).(*parser.Call); !ok || c.Func.Name != "clamp_min" {
						t.Errorf("%s: divides by %s; divide by clamp_min(..., 1e-9) so an idle window is 0, not NaN", where, n.RHS)
					}
				}
			case *parser.Call:
				if n.Func.Name == "histogram_quantile" {
					q := strings.TrimPrefix(strings.TrimRight(fmt.Sprint(n.Args[0]), "0"), "0.")
					if !strings.Contains(tg.legend, "p"+q) {
						t.Errorf("%s: a %s percentile whose legend %q does not say p%s", where, n.Args[0], tg.legend, q)
					}
				}
			}
			return nil
		})
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if a, ok := n.(*parser.AggregateExpr); ok {
				for _, g := range a.Grouping {
					if !slices.Contains(labels, g) {
						t.Errorf("%s: groups by %q, a label none of its metrics has", where, g)
					}
				}
			}
			return nil
		})
	}
	for _, name := range slices.Sorted(maps.Keys(defined)) {
		if !used[name] {
			t.Errorf("README.md defines %s, which no panel shows", name)
		}
	}
}

// The substitution and the checks above must themselves catch what they are for.
func TestChecksCatchWhatTheyAreFor(t *testing.T) {
	if _, err := substitute(`rate(x[$nope])`, []string{"runtime"}); err == nil {
		t.Error("an unknown variable passed")
	}
	p := parser.NewParser(parser.Options{})
	if _, err := p.ParseExpr(`sum by (runtime) (rate(pipetel_events_total[5m])`); err == nil {
		t.Error("an unbalanced expression parsed")
	}
	if _, ok := series(map[string]metric{"h": {Type: "histogram"}}, "h"); ok {
		t.Error("a histogram's bare name resolved; only its _bucket, _count and _sum series exist")
	}
}

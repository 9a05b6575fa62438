// Package grafana holds pipetel's Grafana dashboard (pipetel.json) and the contract it is
// written against: the metrics table of README.md, which Metrics reads so that the
// dashboard's test and the exporter's test check the same list. Only tests import it.
package grafana

import (
	_ "embed"
	"regexp"
	"strings"
)

//go:embed README.md
var readme string

// Metric is one row of README.md's metrics table.
type Metric struct {
	Type   string   // counter, gauge or histogram
	Labels []string // the label names, in the table's order
}

var metricRow = regexp.MustCompile("^\\| `([a-z_:]+)` \\| (counter|gauge|histogram) \\| ([^|]*)\\|")

// Metrics returns the metrics README.md defines, by name.
func Metrics() map[string]Metric {
	out := map[string]Metric{}
	for line := range strings.SplitSeq(readme, "\n") {
		m := metricRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for l := range strings.SplitSeq(m[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
				labels = append(labels, l)
			}
		}
		out[m[1]] = Metric{Type: m[2], Labels: labels}
	}
	return out
}

package api

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// maxFilterValue bounds the value of a parameter that names no text field.
const maxFilterValue = 256

// params reads a request's query string, remembering which parameters were used and
// every problem found, so one 400 can name them all.
type Params struct {
	values   url.Values
	problems []string
}

func NewParams(req events.APIGatewayV2HTTPRequest) *Params {
	p := &Params{}
	values, err := url.ParseQuery(req.RawQueryString)
	if err != nil {
		p.problemf("the query string is not valid URL encoding (%v)", err)
		values = url.Values{}
	}
	if req.RawQueryString == "" && len(req.QueryStringParameters) > 0 {
		// Some callers (and sample events) give only the parsed form.
		for k, v := range req.QueryStringParameters {
			values[k] = []string{v}
		}
	}
	p.values = values
	return p
}

func (p *Params) problemf(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// get returns the single value of name. A repeated parameter is a problem: which one
// should win is not ours to guess.
func (p *Params) Get(name string) (string, bool) {
	vs, ok := p.values[name]
	if !ok {
		return "", false
	}
	if len(vs) > 1 {
		p.problemf("%s is given %d times; give it once", name, len(vs))
	}
	return vs[0], true
}

func (p *Params) int(name string, def, lo, hi int) int {
	raw, ok := p.Get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < lo || n > hi {
		p.problemf("%s must be a whole number from %d to %d, not %q", name, lo, hi, raw)
		return def
	}
	return n
}

func (p *Params) bool(name string) *bool {
	raw, ok := p.Get(name)
	if !ok {
		return nil
	}
	b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(raw)))
	if err != nil {
		p.problemf("%s must be true or false, not %q", name, raw)
		return nil
	}
	return &b
}

// filter reads the filter parameters among fields (wire names, plus "lab" as an alias of
// runtime, and since/until), as GET /telemetry and the stats route accept them.
func (p *Params) Filter(fields []string) telemetry.Filter {
	f := telemetry.Filter{Equals: map[string]string{}}
	for _, field := range fields {
		switch field {
		case "lab", "since", "until":
			continue
		case "is_infra_error":
			f.IsInfraError = p.bool(field)
			continue
		case "retry":
			if _, ok := p.values[field]; ok {
				// Every value ingest stores: retry is kept as sent within ±MaxRetry.
				n := p.int(field, 0, -telemetry.MaxRetry, telemetry.MaxRetry)
				f.Retry = &n
			}
			continue
		}
		if v, ok := p.filterValue(field, field); ok {
			f.Equals[field] = v
		}
	}
	if slices.Contains(fields, "lab") {
		if lab, ok := p.filterValue("lab", "runtime"); ok {
			if runtime, both := f.Equals["runtime"]; both && runtime != lab {
				p.problemf("lab is another name for runtime, and they differ (%q, %q); give one", lab, runtime)
			}
			f.Equals["runtime"] = lab
		}
	}
	_, f.SinceGiven = p.values["since"]
	f.Since = p.time("since")
	before := len(p.problems)
	f.Until = p.time("until")
	if _, given := p.values["until"]; given && f.Until.IsZero() && len(p.problems) == before {
		// The zero time stands for "no until" everywhere a filter goes, so it cannot be
		// one; an until at the very first instant there is would be meant as some other.
		p.problemf("until is 0001-01-01T00:00:00Z, the earliest time there is, which pipetel reads as no until; give a later one")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		p.problemf("since (%s) is after until (%s)", telemetry.FormatTime(f.Since), telemetry.FormatTime(f.Until))
	}
	return f
}

// filterValue returns the value of a string filter. An empty one (runtime=) matches
// events whose field is empty or absent, which are one and the same to pipetel: KernelCI
// emitters send runtime "", and those events must be found too. Leaving the parameter
// out is how to ask for no filter. A value longer than its field keeps is cut as ingest
// cut it when storing (telemetry.TextLimit), so a filter by the value sent finds the event.
func (p *Params) filterValue(name, field string) (string, bool) {
	v, ok := p.Get(name)
	if !ok {
		return "", false
	}
	if !utf8.ValidString(v) {
		// Ingest refuses text that is not UTF-8, so nothing stored can equal it.
		p.problemf("%s is not UTF-8 text (percent-encode the value's UTF-8 bytes)", name)
		return "", false
	}
	if limit := telemetry.TextLimit(field); limit > 0 {
		return telemetry.CutText(v, limit), true
	}
	if utf8.RuneCountInString(v) > maxFilterValue {
		p.problemf("%s is longer than %d characters", name, maxFilterValue)
		return "", false
	}
	return v, true
}

func (p *Params) time(name string) (t time.Time) {
	raw, ok := p.Get(name)
	if !ok {
		return t
	}
	parsed, err := telemetry.ParseTime(raw)
	if err != nil && len(raw) > 11 && strings.Contains(raw[11:], " ") {
		// An unencoded '+' in a query string arrives as a space: 14:12:33+07:00 sent
		// as is reads 14:12:33 07:00. After the time, a space can only have been that.
		parsed, err = telemetry.ParseTime(raw[:11] + strings.ReplaceAll(raw[11:], " ", "+"))
	}
	if err != nil {
		hint := ""
		if strings.Contains(raw, " ") {
			hint = " (a '+' in a query string must be sent as %2B)"
		}
		p.problemf("%s %v, not %q%s", name, err, raw, hint)
		return t
	}
	return parsed
}

// check reports the problems found and any parameter not in accepted, as one 400.
func (p *Params) Check(accepted []string) error {
	var unknown []string
	for name := range p.values {
		if !slices.Contains(accepted, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		if len(accepted) == 0 {
			p.problemf("unknown parameter %s (this route takes none)", strings.Join(unknown, ", "))
		} else {
			p.problemf("unknown parameter %s (accepted: %s)", strings.Join(unknown, ", "), strings.Join(accepted, ", "))
		}
	}
	if len(p.problems) == 0 {
		return nil
	}
	return telemetry.InvalidProblems(p.problems, nil)
}

// Bool reads an optional true/false parameter (any case, also 1/0); nil when absent.
func (p *Params) Bool(name string) *bool { return p.bool(name) }

// Value reads an optional exact-match parameter name that filters the event field field,
// as filterValue does: an empty one matches the empty string, an over-long one is cut as
// ingest cuts that field.
func (p *Params) Value(name, field string) (string, bool) { return p.filterValue(name, field) }

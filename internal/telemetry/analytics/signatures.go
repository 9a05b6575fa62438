package analytics

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Error signatures group error_msg texts that say the same thing about different objects:
// "bootloader-commands timed out after 180 seconds" and "… after 240 seconds" are one
// signature, "Kernel panic - not syncing: …" another.
//
// A message is first masked (MaskMessage): timestamps, URLs, UUIDs, IP and MAC addresses,
// hexadecimal ids and addresses, file paths and numbers are replaced by placeholders, so
// what varies from one occurrence to the next is gone before anything is compared. The
// masked tokens are then mined into templates as Drain does (He et al., "Drain: An Online
// Log Parsing Approach with Fixed Depth Tree", ICWS 2017): messages are routed by their
// token count and first tokens to a leaf, and join the leaf's most similar template when
// at least SignatureSimilarity of its tokens are equal; the template's differing tokens
// become "<*>". No Go implementation of Drain is published as a maintained module, so this
// is the small one the signatures need.
//
// Determinism: a Miner started from the same templates and fed the same messages in the
// same order gives the same templates. A signature's id is fixed when it is created (a
// hash of its first masked message) and kept when its template widens, so the id an
// operator saw yesterday still names the same signature today.

// Signature mining limits: they bound the work per message and the size of a template.
const (
	// SignatureSimilarity is the least share of a template's tokens a message must equal
	// to join it (Drain's st; 0.5 in the paper, higher here because masking already made
	// the variable tokens equal).
	SignatureSimilarity = 0.6
	// SignatureMaxTokens is how many tokens of a message are compared; the rest of a long
	// message (a traceback's frames) is not part of its signature.
	SignatureMaxTokens = 24
	// SignatureMaxTokenBytes truncates each token, so a template is at most about
	// SignatureMaxTokens × SignatureMaxTokenBytes bytes.
	SignatureMaxTokenBytes = 40
	// SignaturePrefixTokens is Drain's depth below the length layer: how many leading
	// tokens route a message to its leaf.
	SignaturePrefixTokens = 2
	// SignatureWildcard stands for a token that differs between a template's messages.
	SignatureWildcard = "<*>"
)

// mask replaces what one pattern matches by a placeholder.
type mask struct {
	re   *regexp.Regexp
	with string
	// only, when set, says whether a match (w, after the byte before, 0 at the start)
	// is masked; Go's regexp has no look-behind.
	only func(before byte, w string) bool
}

// maskSet is every pattern MaskMessage applies, in order.
type maskSet struct {
	masks []mask
	// hexID: a word of 8 or more hexadecimal digits with both a digit and a letter (a
	// commit, an object id, an address without 0x); letters alone are a word, digits
	// alone a number.
	hexID *regexp.Regexp
	// number: a number, with a unit of up to three letters (180s, 30ms, 2GB), standing
	// alone (rk3399 keeps its digits: they name the device type).
	number *regexp.Regexp
}

// maskPatterns are compiled on the first message masked, not at package init: every
// function that aggregates links this package, most of their invocations mask nothing,
// and compiling them took 0.46 ms of each one's cold start.
var maskPatterns = sync.OnceValue(func() (p maskSet) {
	p.masks = []mask{
		{regexp.MustCompile(`\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?`), "<TS>", nil},
		{regexp.MustCompile(`\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b`), "<TS>", nil},
		{regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]*[^\s"'<>:.,;)]`), "<URL>", nil},
		{regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), "<ID>", nil},
		{regexp.MustCompile(`(?i)\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b`), "<MAC>", nil},
		// A relative path (drivers/gpu/drm/x.c:12:5) when it has three parts or more, or a
		// file name with an extension, so "i/o" and "and/or" stay words.
		{regexp.MustCompile(`[\w.@+-]+(?:/[\w.@+-]+)+(?::\d+)*`), "<PATH>", func(before byte, w string) bool {
			path, _, _ := strings.Cut(w, ":")
			return before != '/' && (strings.Count(path, "/") >= 2 || strings.Contains(path[strings.LastIndexByte(path, '/'):], "."))
		}},
		// Absolute paths, with a line and column, not inside a word ("i/o"); before
		// addresses, whose ports look like line numbers.
		{regexp.MustCompile(`[~.]{0,2}/[\w.@+-]+(?:/[\w.@+-]*)*(?::\d+)*`), "<PATH>", func(before byte, _ string) bool {
			return !(before == '_' || '0' <= before && before <= '9' || 'a' <= before|0x20 && before|0x20 <= 'z')
		}},
		{regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b`), "<IP>", nil},
		{regexp.MustCompile(`(?i)\[[0-9a-f]*:[0-9a-f:]*\](?::\d{1,5})?`), "<IP>", nil},
		{regexp.MustCompile(`(?i)\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}\b`), "<IP>", nil},
		{regexp.MustCompile(`(?i)\b0x[0-9a-f]+\b`), "<HEX>", nil},
	}
	p.hexID = regexp.MustCompile(`(?i)\b[0-9a-f]{8,}\b`)
	p.number = regexp.MustCompile(`(?i)(?:^|[^\w.])(\d+(?:\.\d+)?(?:[a-z]{1,3})?)\b`)
	return p
})

// MaskMessage replaces what varies in an error message by placeholders: <TS>, <URL>, <ID>
// (UUID), <MAC>, <IP> (IPv4 or IPv6, with a port), <HEX> (0x… or a hexadecimal word of 8+
// digits), <PATH> (file paths, with :line:column) and <NUM> (numbers, with a short unit). A
// Python traceback is reduced to its last line, the exception, since its frames say where,
// not what. Whitespace is collapsed.
func MaskMessage(msg string) string {
	if strings.Contains(msg, "Traceback (most recent call last)") {
		lines := strings.Split(strings.TrimSpace(msg), "\n")
		msg = "Traceback: " + strings.TrimSpace(lines[len(lines)-1])
	}
	patterns := maskPatterns()
	for _, m := range patterns.masks {
		if m.only == nil {
			msg = m.re.ReplaceAllString(msg, m.with)
			continue
		}
		var b strings.Builder
		last := 0
		for _, loc := range m.re.FindAllStringIndex(msg, -1) {
			var before byte
			if loc[0] > 0 {
				before = msg[loc[0]-1]
			}
			if m.only(before, msg[loc[0]:loc[1]]) {
				b.WriteString(msg[last:loc[0]])
				b.WriteString(m.with)
				last = loc[1]
			}
		}
		b.WriteString(msg[last:])
		msg = b.String()
	}
	msg = patterns.hexID.ReplaceAllStringFunc(msg, func(w string) string {
		if strings.ContainsAny(w, "0123456789") && strings.ContainsAny(strings.ToLower(w), "abcdef") {
			return "<HEX>"
		}
		return w
	})
	msg = patterns.number.ReplaceAllStringFunc(msg, func(w string) string {
		sub := patterns.number.FindStringSubmatchIndex(w)
		return w[:sub[2]] + "<NUM>"
	})
	return strings.Join(strings.Fields(msg), " ")
}

// signatureTokens are the tokens of a masked message that are compared.
func signatureTokens(masked string) []string {
	tokens := strings.Fields(masked)
	if len(tokens) > SignatureMaxTokens {
		tokens = tokens[:SignatureMaxTokens]
	}
	for i, t := range tokens {
		if len(t) > SignatureMaxTokenBytes {
			tokens[i] = strings.ToValidUTF8(t[:SignatureMaxTokenBytes], "")
		}
	}
	return tokens
}

// routeKey is the leaf a token sequence goes to: its length and leading tokens, where a
// token with a digit or a placeholder routes as a wildcard (Drain's rule, so variable
// leading tokens do not split a signature).
func routeKey(tokens []string) string {
	var b strings.Builder
	b.WriteString(string(rune('0' + len(tokens))))
	for i := 0; i < SignaturePrefixTokens && i < len(tokens); i++ {
		b.WriteByte(0)
		t := tokens[i]
		if strings.ContainsAny(t, "0123456789<") {
			t = SignatureWildcard
		}
		b.WriteString(t)
	}
	return b.String()
}

// SignatureTemplate is one mined template.
type SignatureTemplate struct {
	ID       string // 12 hexadecimal digits, fixed at creation
	Template string // tokens joined by single spaces, SignatureWildcard where they differ
}

// Miner mines signatures. Its zero value is not usable; use NewMiner.
type Miner struct {
	leaves map[string][]*minedTemplate
	byID   map[string]*minedTemplate
}

type minedTemplate struct {
	id     string
	tokens []string
}

// NewMiner returns a miner that knows known (in the order given; a later template with
// the id of an earlier one is dropped).
func NewMiner(known []SignatureTemplate) *Miner {
	m := &Miner{leaves: map[string][]*minedTemplate{}, byID: map[string]*minedTemplate{}}
	for _, k := range known {
		if _, dup := m.byID[k.ID]; dup {
			continue
		}
		t := &minedTemplate{id: k.ID, tokens: strings.Fields(k.Template)}
		key := routeKey(t.tokens)
		m.leaves[key] = append(m.leaves[key], t)
		m.byID[k.ID] = t
	}
	return m
}

// Add mines msg and returns the id of its signature, new or known. An empty message (or
// one of whitespace) has no signature: Add returns "".
func (m *Miner) Add(msg string) string {
	masked := MaskMessage(msg)
	tokens := signatureTokens(masked)
	if len(tokens) == 0 {
		return ""
	}
	key := routeKey(tokens)
	var best *minedTemplate
	bestSim := -1.0
	for _, t := range m.leaves[key] {
		if s := similarity(t.tokens, tokens); s > bestSim {
			best, bestSim = t, s
		}
	}
	if best != nil && bestSim >= SignatureSimilarity {
		for i, tok := range tokens {
			if best.tokens[i] != tok {
				best.tokens[i] = SignatureWildcard
			}
		}
		return best.id
	}
	sum := sha256.Sum256([]byte(strings.Join(tokens, " ")))
	t := &minedTemplate{id: hex.EncodeToString(sum[:6]), tokens: tokens}
	if _, clash := m.byID[t.id]; clash {
		// The same first message, routed apart only if its template was reloaded widened
		// beyond recognition; extend the id so both stay.
		t.id = hex.EncodeToString(sum[:8])
	}
	m.leaves[key] = append(m.leaves[key], t)
	m.byID[t.id] = t
	return t.id
}

// Template returns the current template of the signature id ("" if unknown).
func (m *Miner) Template(id string) string {
	t, ok := m.byID[id]
	if !ok {
		return ""
	}
	return strings.Join(t.tokens, " ")
}

// similarity is Drain's: the share of positions where the template's token equals the
// message's; wildcards do not count as equal, so a widened template does not swallow
// every message of its length.
func similarity(template, tokens []string) float64 {
	same := 0
	for i, t := range template {
		if t == tokens[i] {
			same++
		}
	}
	return float64(same) / float64(len(template))
}

// SignatureParams configure error signatures and their new_signature anomalies. Zero
// fields mean DefaultSignatureParams'.
type SignatureParams struct {
	// Window is the current window, whose messages are counted (the baselines' window).
	Window time.Duration
	// Keep is how long a signature not seen is remembered: a signature is "new" when it
	// was not seen within Keep before it appeared (the baselines' 7 days).
	Keep time.Duration
	// MaxKept bounds the signatures remembered; past it, those seen least recently are
	// forgotten (one coming back is then new again).
	MaxKept int
	// MinNew is how many messages a new signature needs in the window to be an anomaly.
	MinNew int64
	// MinHistory is how long signatures must have been tracked before a signature's first
	// occurrence for it to count as new: right after the rollup starts, every signature
	// is one not seen yet.
	MinHistory time.Duration
	// MaxEvents bounds the raw events read per evaluation; past it the window is
	// counted in part and the section says so.
	MaxEvents int
}

// DefaultSignatureParams: a 1 h window; remembered 7 days, at most 100 signatures; new
// with at least 5 messages after 6 h of tracking; at most 20,000 events read per run.
func DefaultSignatureParams() SignatureParams {
	return SignatureParams{Window: time.Hour, Keep: 7 * 24 * time.Hour, MaxKept: 100, MinNew: 5, MinHistory: 6 * time.Hour, MaxEvents: 20_000}
}

// WithDefaults fills the zero fields of p from DefaultSignatureParams.
func (p SignatureParams) WithDefaults() SignatureParams {
	d := DefaultSignatureParams()
	if p.Window <= 0 {
		p.Window = d.Window
	}
	if p.Keep <= 0 {
		p.Keep = d.Keep
	}
	if p.MaxKept <= 0 {
		p.MaxKept = d.MaxKept
	}
	if p.MinNew <= 0 {
		p.MinNew = d.MinNew
	}
	if p.MinHistory <= 0 {
		p.MinHistory = d.MinHistory
	}
	if p.MaxEvents <= 0 {
		p.MaxEvents = d.MaxEvents
	}
	return p
}

// SignatureSampleBytes bounds a signature's sample message.
const SignatureSampleBytes = 240

// ErrorSignature is one signature: its template, its count in the current window and when
// it was first and last seen as far as the remembered history reaches.
type ErrorSignature struct {
	ID        string `json:"id"`
	Template  string `json:"template"`
	Count     int64  `json:"count"` // messages in the current window
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
	// Runtimes that sent it in the current window, sorted; ErrorTypes likewise.
	Runtimes   []string `json:"runtimes"`
	ErrorTypes []string `json:"error_types"`
	// Sample is the newest message of it in the window, at most SignatureSampleBytes
	// bytes; empty when the window holds none.
	Sample string `json:"sample"`
}

// ErrorSignatures is the summary's section of signatures, and the memory the next
// evaluation starts from.
type ErrorSignatures struct {
	WindowFrom string `json:"window_from"`
	// TrackedSince is the start of the first window signatures were mined from; new
	// signatures are judged only once MinHistory has passed since it.
	TrackedSince string `json:"tracked_since"`
	EventsRead   int    `json:"events_read"`
	// Truncated: the window held more than MaxEvents events of the kinds read; the counts
	// are of the first MaxEvents read.
	Truncated bool `json:"truncated"`
	// Signatures remembered: those of the window first (count descending), then the
	// others (last_seen descending), then by id.
	Signatures []ErrorSignature `json:"signatures"`
}

// NewSignature is the anomaly of a signature first seen in the current window, not seen
// in the remembered history before it, with at least MinNew messages.
type NewSignature struct {
	ErrorSignature
	Scope string `json:"scope"` // always "signature"
}

// SignatureMiner counts the current window's messages into signatures from a previous
// section's memory.
type SignatureMiner struct {
	p       SignatureParams
	now     time.Time
	split   time.Time
	tracked time.Time
	miner   *Miner
	known   map[string]*signatureState
	read    int
	full    bool
	events  []*telemetry.Event
}

type signatureState struct {
	sig        ErrorSignature
	first      time.Time
	last       time.Time
	runtimes   map[string]bool
	errorTypes map[string]bool
	sampleAt   time.Time
	sampleID   string
}

// NewSignatureMiner starts the evaluation at now from prev (nil: none before).
func NewSignatureMiner(p SignatureParams, prev *ErrorSignatures, now time.Time) *SignatureMiner {
	p = p.WithDefaults()
	s := &SignatureMiner{p: p, now: now, split: now.Add(-p.Window).UTC().Truncate(time.Microsecond), known: map[string]*signatureState{}}
	s.tracked = s.split
	var templates []SignatureTemplate
	if prev != nil {
		if t, err := time.Parse(telemetry.TimeLayout, prev.TrackedSince); err == nil && t.Before(s.tracked) {
			s.tracked = t
		}
		for _, sig := range prev.Signatures {
			first, err1 := time.Parse(telemetry.TimeLayout, sig.FirstSeen)
			last, err2 := time.Parse(telemetry.TimeLayout, sig.LastSeen)
			if err1 != nil || err2 != nil || now.Sub(last) > p.Keep {
				continue
			}
			templates = append(templates, SignatureTemplate{ID: sig.ID, Template: sig.Template})
			s.known[sig.ID] = &signatureState{sig: ErrorSignature{ID: sig.ID, Template: sig.Template}, first: first, last: last,
				runtimes: map[string]bool{}, errorTypes: map[string]bool{}}
		}
	}
	s.miner = NewMiner(templates)
	return s
}

// Split is the start of the current window.
func (s *SignatureMiner) Split() time.Time { return s.split }

// Full says MaxEvents events have been taken: read no more.
func (s *SignatureMiner) Full() bool { return s.full }

// Add takes one event of the window (events without error_msg are ignored, as are those
// past MaxEvents). Events may come in any order: they are mined in (ts, id) order.
func (s *SignatureMiner) Add(e *telemetry.Event) {
	if s.full {
		return
	}
	s.read++
	if s.read >= s.p.MaxEvents {
		s.full = true
	}
	if strings.TrimSpace(e.ErrorMsg) == "" || e.TS.Before(s.split) {
		return
	}
	s.events = append(s.events, e)
}

// Result mines the events taken and returns the section and the new signatures, highest
// count first, then by id.
func (s *SignatureMiner) Result() (*ErrorSignatures, []NewSignature) {
	sort.Slice(s.events, func(i, j int) bool {
		if !s.events[i].TS.Equal(s.events[j].TS) {
			return s.events[i].TS.Before(s.events[j].TS)
		}
		return s.events[i].ID < s.events[j].ID
	})
	for _, e := range s.events {
		id := s.miner.Add(e.ErrorMsg)
		st, ok := s.known[id]
		if !ok {
			st = &signatureState{sig: ErrorSignature{ID: id}, first: e.TS, runtimes: map[string]bool{}, errorTypes: map[string]bool{}}
			s.known[id] = st
		}
		st.sig.Count++
		if e.TS.Before(st.first) {
			st.first = e.TS
		}
		if e.TS.After(st.last) {
			st.last = e.TS
		}
		st.runtimes[e.Runtime] = true
		if e.ErrorType != "" {
			st.errorTypes[e.ErrorType] = true
		}
		if !e.TS.Before(st.sampleAt) {
			st.sampleAt, st.sampleID = e.TS, e.ID
			st.sig.Sample = truncateUTF8(e.ErrorMsg, SignatureSampleBytes)
		}
	}
	var all []*signatureState
	for id, st := range s.known {
		st.sig.Template = s.miner.Template(id)
		st.sig.FirstSeen, st.sig.LastSeen = telemetry.FormatTime(st.first), telemetry.FormatTime(st.last)
		st.sig.Runtimes, st.sig.ErrorTypes = sortedKeys(st.runtimes), sortedKeys(st.errorTypes)
		all = append(all, st)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.sig.Count != b.sig.Count {
			return a.sig.Count > b.sig.Count
		}
		if !a.last.Equal(b.last) {
			return a.last.After(b.last)
		}
		return a.sig.ID < b.sig.ID
	})
	if len(all) > s.p.MaxKept {
		all = all[:s.p.MaxKept]
	}
	out := &ErrorSignatures{WindowFrom: telemetry.FormatTime(s.split), TrackedSince: telemetry.FormatTime(s.tracked),
		EventsRead: s.read, Truncated: s.full, Signatures: []ErrorSignature{}}
	news := []NewSignature{}
	for _, st := range all {
		out.Signatures = append(out.Signatures, st.sig)
		if st.sig.Count >= s.p.MinNew && !st.first.Before(s.split) && st.first.Sub(s.tracked) >= s.p.MinHistory {
			news = append(news, NewSignature{ErrorSignature: st.sig, Scope: "signature"})
		}
	}
	return out, news
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

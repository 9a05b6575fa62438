package analytics

import "sort"

// Episode is one anomaly's open episode as the evaluations see it: the evaluation that
// opened it, the last that found it, and how many evaluations in a row since then have not.
type Episode struct {
	Key       string
	Since     string // when it opened (a snapshot time)
	Confirmed string // when an evaluation last found it
	ClearRuns int    // evaluations in a row that have not found it since Confirmed
}

// EpisodeStep is what one evaluation does to the episodes.
type EpisodeStep struct {
	Open     []Episode // still open, with Opened among them; by key
	Opened   []string  // keys that opened now
	Resolved []Episode // episodes that resolved now, as they were last open; by key
}

// StepEpisodes applies one evaluation at now, which found the keys in found, to the open
// episodes: a found key opens an episode (at the threshold, at once) or confirms its open
// one; an open episode not found stays open until resolveAfter evaluations in a row (at
// least 1) have not found it, and then resolves. So a group that flaps, found in one
// evaluation and not in the next, stays one episode, and one alert, until it has been clear
// for resolveAfter evaluations.
func StepEpisodes(open []Episode, found map[string]bool, now string, resolveAfter int) EpisodeStep {
	resolveAfter = max(1, resolveAfter)
	var s EpisodeStep
	was := map[string]bool{}
	for _, ep := range open {
		was[ep.Key] = true
		switch {
		case found[ep.Key]:
			ep.Confirmed, ep.ClearRuns = now, 0
			s.Open = append(s.Open, ep)
		case ep.ClearRuns+1 >= resolveAfter:
			s.Resolved = append(s.Resolved, ep)
		default:
			ep.ClearRuns++
			s.Open = append(s.Open, ep)
		}
	}
	for key := range found {
		if !was[key] {
			s.Open = append(s.Open, Episode{Key: key, Since: now, Confirmed: now})
			s.Opened = append(s.Opened, key)
		}
	}
	sort.Slice(s.Open, func(i, j int) bool { return s.Open[i].Key < s.Open[j].Key })
	sort.Slice(s.Resolved, func(i, j int) bool { return s.Resolved[i].Key < s.Resolved[j].Key })
	sort.Strings(s.Opened)
	return s
}

package telemetry

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTruncatedExtraCutsAtWholeCharacters checks truncatedExtra on texts over
// maxExtraBytes whose cut falls at every offset within a character of 2, 3 and 4 bytes:
// what it keeps is the start of the text, whole characters only (no U+FFFD put in place
// of a cut one), within maxExtraBytes once encoded, and not much shorter than it needs.
func TestTruncatedExtraCutsAtWholeCharacters(t *testing.T) {
	for _, char := range []string{"é", "€", "𝄞"} {
		for pad := range 4 {
			text := `{"k":"` + strings.Repeat("a", pad) + strings.Repeat(char, 2*maxExtraBytes/len(char)) + `"}`
			enc := truncatedExtra([]byte(text))
			var kept map[string]string
			if err := json.Unmarshal(enc, &kept); err != nil {
				t.Fatalf("%s, pad %d: %v: %s", char, pad, err, enc)
			}
			got := kept[extraTruncatedKey]
			switch {
			case len(enc) > maxExtraBytes:
				t.Errorf("%s, pad %d: %d bytes encoded, over %d", char, pad, len(enc), maxExtraBytes)
			case !utf8.ValidString(got) || strings.ContainsRune(got, utf8.RuneError) || !strings.HasPrefix(text, got):
				t.Errorf("%s, pad %d: kept %q…, not the start of the text in whole characters", char, pad, got[:min(len(got), 40)])
			case len(got) < maxExtraBytes*3/4:
				t.Errorf("%s, pad %d: kept only %d bytes of %d allowed", char, pad, len(got), maxExtraBytes)
			}
		}
	}
}

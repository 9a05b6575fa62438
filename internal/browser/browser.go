// Package browser finds and starts the headless Chromium that opens the dashboard, for its
// browser test (internal/web) and for make bench's first-view figure (internal/bench).
package browser

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// EnvChromium names the browser binary; empty: the first of Names on PATH.
const EnvChromium = "PIPETEL_CHROMIUM"

// Names are the browser binaries looked for on PATH, Debian's first (.ci/run installs it).
var Names = []string{"chromium", "chromium-browser", "google-chrome"}

// TokenKey is where the dashboard keeps the token its header's entry is given (TOKEN_KEY
// in internal/web/static/app.js); sessionStorage is per tab and per origin.
const TokenKey = "pipetel-token"

// Find returns the browser to drive: getenv(EnvChromium), else the first of Names on PATH.
// The error says how to install one.
func Find(getenv func(string) string) (string, error) {
	if p := getenv(EnvChromium); p != "" {
		return p, nil
	}
	for _, name := range Names {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no browser: none of %s is on PATH and %s is unset; install Debian's chromium (apt-get install chromium), as .ci/run does",
		strings.Join(Names, ", "), EnvChromium)
}

// Options start the browser at path headless, in a 1400×1000 window, with its profile in
// userDataDir (a fresh directory: two browsers may not share one), and with the
// background traffic of a desktop browser off, so nothing but the page uses the network.
func Options(path, userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1400, 1000),
	}
}

// HoldToken makes the tab of ctx hold token in sessionStorage before any page script
// runs, as if its person had typed it into the dashboard's token entry.
func HoldToken(ctx context.Context, token string) error {
	setToken := fmt.Sprintf(`sessionStorage.setItem(%q, %q)`, TokenKey, token)
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: setToken})
		return err
	}))
}

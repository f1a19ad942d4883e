package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Browser returns a function that starts a headless Chromium (skipping the
// test when there is none) with its own profile and a 1280×900 window, and
// a 90 s limit. Any JavaScript alert, confirm or prompt fails the test: it
// means an injected script ran.
func Browser(t *testing.T) func() (context.Context, context.CancelFunc) {
	t.Helper()
	bin := Chromium(t)
	return func() (context.Context, context.CancelFunc) {
		profile := browserProfile(t)
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(bin),
			chromedp.Flag("headless", true),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			chromedp.NoFirstRun,
			chromedp.Flag("hide-scrollbars", true),
			chromedp.UserDataDir(profile),
			chromedp.WindowSize(1280, 900),
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelBrowser := chromedp.NewContext(actx)
		ctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
		chromedp.ListenTarget(ctx, func(ev any) {
			if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
				t.Errorf("a JavaScript dialog opened: %q", d.Message)
				go chromedp.Run(ctx, page.HandleJavaScriptDialog(false))
			}
		})
		if err := chromedp.Run(ctx); err != nil {
			t.Fatalf("start chromium: %v", err)
		}
		return ctx, func() { cancelTimeout(); cancelBrowser(); cancelAlloc() }
	}
}

// browserProfile makes a profile directory for one Chromium, removed when
// the test ends. It is not a t.TempDir: Chromium's helper processes may
// still write into it for a moment after the browser was stopped, which
// made the test fail ("directory not empty"); the removal is retried.
func browserProfile(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "helpmesh-chromium-")
	if err != nil {
		t.Fatalf("testenv: browser profile: %v", err)
	}
	t.Cleanup(func() {
		for range 20 {
			if err = os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("testenv: could not remove the browser profile %s: %v", dir, err)
	})
	return dir
}

// Screenshot saves a full-page PNG screenshot as dir/name.png in the test
// artifacts (ArtifactsDir).
func Screenshot(t *testing.T, dir, name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var buf []byte
		if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
			return err
		}
		dir := filepath.Join(ArtifactsDir(t), dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	})
}

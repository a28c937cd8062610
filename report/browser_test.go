package report

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium; without it the browser tests skip,
// unless MQCHECK_REQUIRE_BROKERS=1 (CI), where a missing browser fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (apt-get install chromium): the report.html browser test needs it"
	if os.Getenv("MQCHECK_REQUIRE_BROKERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// pageCheck is what the browser saw of a report.
type pageCheck struct {
	Title    string `json:"title"`
	Charts   int    `json:"charts"`
	Loaded   int    `json:"loaded"`
	Scripts  int    `json:"scripts"`
	Sections int    `json:"sections"`
}

// TestReportInChromium opens report.html in headless Chromium, as a person
// would: the page must load offline with every chart drawn, no console
// error, no request beyond the file itself, and no script of any kind
// (hostile text included). A screenshot is left in the test's directory.
func TestReportInChromium(t *testing.T) {
	path := chromiumPath(t)
	dir := t.TempDir()
	pages := map[string]func(io.Writer) error{
		"report.html":  func(w io.Writer) error { return HTML(w, sampleRun()) },
		"runs.html":    func(w io.Writer) error { return HTMLRuns(w, []*Run{sampleRun(), sampleRun()}) },
		"hostile.html": func(w io.Writer) error { return HTML(w, hostileRun()) },
	}
	for name, f := range pages {
		if err := writeAtomic(filepath.Join(dir, name), f); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(filepath.Join(dir, "chromium-profile")),
		chromedp.WindowSize(1200, 900))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, fmt.Sprintf("console %s: %v", ev.Type, ev.Args))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			if u := ev.Request.URL; !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
				problems = append(problems, "network request: "+u)
			}
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	for _, tt := range []struct {
		page     string
		charts   int
		sections int
	}{{"report.html", 7, 1}, {"runs.html", 3 + 2*7, 2}, {"hostile.html", 7, 1}} {
		err := chromedp.Do(bctx, chromedp.Navigate("file://"+filepath.Join(dir, tt.page)), chromedp.WaitReady("footer"))
		if err != nil {
			t.Fatalf("%s: %v", tt.page, err)
		}
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`[...document.images].every(i => i.complete)`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("%s: the charts did not load: %v", tt.page, err)
		}
		got, err := chromedp.Run(bctx, chromedp.Evaluate[pageCheck](`({
			title: document.title,
			charts: document.querySelectorAll("figure.chart img").length,
			loaded: [...document.querySelectorAll("figure.chart img")].filter(i => i.complete && i.naturalWidth > 0).length,
			scripts: document.querySelectorAll("script").length,
			sections: document.querySelectorAll("article.run").length,
		})`))
		if err != nil {
			t.Fatalf("%s: %v", tt.page, err)
		}
		shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(80))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", tt.page, err)
		}
		if got.Charts != tt.charts || got.Loaded != tt.charts {
			t.Errorf("%s: %d charts, %d drawn; want %d", tt.page, got.Charts, got.Loaded, tt.charts)
		}
		if got.Scripts != 0 || got.Sections != tt.sections || !strings.HasPrefix(got.Title, "mqcheck") {
			t.Errorf("%s: %+v", tt.page, got)
		}
		if len(shot) < 10_000 {
			t.Errorf("%s: a screenshot of %d bytes", tt.page, len(shot))
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(tt.page, ".html")+".png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

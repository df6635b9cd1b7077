package rules

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runbooksFile is docs/runbooks.md seen from this package's directory.
var runbooksFile = filepath.Join("..", "docs", "runbooks.md")

// markdownAnchors returns the anchors GitHub makes of the page's headings:
// lower case, punctuation other than "-" and "_" dropped, spaces as "-".
func markdownAnchors(page string) map[string]string {
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	out := map[string]string{}
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchor := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(title), ""), " ", "-")
		out[anchor] = title
	}
	return out
}

// TestEveryAlertHasARunbook checks that every alerting rule carries a
// runbook_url into docs/runbooks.md whose anchor is a heading there, that
// every alert section of the page is an alert, and that the page's own
// links to sections land.
func TestEveryAlertHasARunbook(t *testing.T) {
	data, err := os.ReadFile(runbooksFile)
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	anchors := markdownAnchors(page)
	groups, err := Groups(DefaultSLO())
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				if _, ok := r.Annotations["runbook_url"]; ok {
					t.Errorf("recording rule %s has a runbook_url", r.Record)
				}
				continue
			}
			alerts[r.Alert] = true
			url := r.Annotations["runbook_url"]
			base, anchor, ok := strings.Cut(url, "#")
			if !ok || base != DefaultRunbookBaseURL {
				t.Errorf("%s: runbook_url %q, want %s#<anchor>", r.Alert, url, DefaultRunbookBaseURL)
				continue
			}
			if title, ok := anchors[anchor]; !ok || title != r.Alert {
				t.Errorf("%s: runbook_url %q: docs/runbooks.md has no section %q", r.Alert, url, r.Alert)
			}
		}
	}
	if !strings.HasSuffix(DefaultRunbookBaseURL, "/docs/runbooks.md") {
		t.Errorf("DefaultRunbookBaseURL %s is not docs/runbooks.md", DefaultRunbookBaseURL)
	}
	for _, m := range regexp.MustCompile(`(?m)^## (Hopscope\w*)$`).FindAllStringSubmatch(page, -1) {
		if !alerts[m[1]] {
			t.Errorf("docs/runbooks.md has a section for %s, which is no alert", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(page, -1) {
		if _, ok := anchors[m[1]]; !ok {
			t.Errorf("docs/runbooks.md links to #%s, which is no heading", m[1])
		}
	}
}

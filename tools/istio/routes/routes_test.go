package routes

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	istiolog "istio.io/istio/pkg/log"
)

func TestMain(m *testing.M) {
	// Istio's informational logging (pushes, proxy setup) would bury the test's own output:
	// warnings and errors of its scopes still show, except the default scope's, where the fake
	// API server's Gateway API CRDs give four "expected to have a v1.5.1 annotation" errors per
	// case. ROUTES_ISTIO_LOG=debug|info|warn shows every scope at that level.
	level := istiolog.WarnLevel
	quietDefault := true
	switch os.Getenv("ROUTES_ISTIO_LOG") {
	case "warn":
		quietDefault = false
	case "debug":
		level, quietDefault = istiolog.DebugLevel, false
	case "info":
		level, quietDefault = istiolog.InfoLevel, false
	case "none":
		level = istiolog.NoneLevel
	}
	for name, s := range istiolog.Scopes() {
		if quietDefault && name == istiolog.DefaultScopeName {
			s.SetOutputLevel(istiolog.NoneLevel)
			continue
		}
		s.SetOutputLevel(level)
	}
	os.Exit(m.Run())
}

const howToWriteCases = "ROUTE_CASES is not set: write the cases with " +
	"`node -r ts-node/register/transpile-only rig/route-cases.ts /tmp/route-cases` (in the repository root), " +
	"then run `ROUTE_CASES=/tmp/route-cases bash scripts/istio-tools.sh test` (npm test does both)"

// TestRoutes feeds each case's objects to Istio's config generator and checks, on the Envoy
// configuration it generates for the ingress gateway and every app pod's sidecar, who reaches
// which version (see check_test.go). Subtests run in parallel (go test -parallel).
func TestRoutes(t *testing.T) {
	dir := os.Getenv("ROUTE_CASES")
	if dir == "" {
		t.Skip(howToWriteCases)
	}
	cases, err := loadCases(dir)
	if err != nil {
		t.Fatalf("reading the cases in %s: %v", dir, err)
	}
	if len(cases) == 0 {
		t.Fatalf("no route cases (*.json) in %s: %s", dir, howToWriteCases)
	}

	start := time.Now()
	var mu sync.Mutex
	tally := map[string]int{}
	count := func(key string) {
		mu.Lock()
		tally[key]++
		mu.Unlock()
	}
	t.Cleanup(func() {
		kinds := map[string]int{}
		for _, c := range cases {
			kinds[c.Kind]++
		}
		t.Logf("%d of the %d cases in %s (%d stage, %d transition, %d api-switch, %d control) checked in %.1fs (run time, compile excluded): "+
			"%d passed, %d failed; control cases detected: %d of %d run",
			tally["pass"]+tally["fail"], len(cases), dir, kinds["stage"], kinds["transition"], kinds["api-switch"], kinds["control"], time.Since(start).Seconds(),
			tally["pass"], tally["fail"], tally["detected"], tally["control"])
	})

	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Now()
			problems := newChecker(t, c).check()
			elapsed := time.Since(t0).Seconds()
			lines := make([]string, 0, len(problems))
			for _, p := range problems {
				lines = append(lines, "  "+p.String())
			}
			covers := ""
			if len(c.AlsoCovers) > 0 {
				covers = fmt.Sprintf(" (also stands for %d identical states: %s)", len(c.AlsoCovers), strings.Join(c.AlsoCovers, ", "))
			}
			if c.ExpectFailure {
				count("control")
				detected := false
				for _, p := range problems {
					if c.Control != nil && p.category == c.Control.DetectedAs {
						detected = true
					}
				}
				if !detected {
					count("fail")
					t.Errorf("control case NOT detected: %s, removed from %s, should give a %q problem; the checker reported %d:\n%s",
						removed(c), basedOn(c), detectedAs(c), len(problems), strings.Join(lines, "\n"))
					return
				}
				count("pass")
				count("detected")
				t.Logf("control detected in %.2fs as %q: %s, removed from %s; the checker reports:\n%s", elapsed, detectedAs(c), removed(c), basedOn(c), strings.Join(lines, "\n"))
				return
			}
			if len(problems) > 0 {
				count("fail")
				t.Errorf("%s%s: Istio's generated configuration disagrees (%d problems):\n%s", c.Description, covers, len(problems), strings.Join(lines, "\n"))
				return
			}
			count("pass")
			t.Logf("ok in %.2fs: %s%s", elapsed, c.Description, covers)
		})
	}
}

func removed(c *routeCase) string {
	if c.Control == nil {
		return "?"
	}
	return c.Control.Removed
}

func basedOn(c *routeCase) string {
	if c.Control == nil {
		return "?"
	}
	return c.Control.BasedOn
}

func detectedAs(c *routeCase) string {
	if c.Control == nil {
		return "?"
	}
	return c.Control.DetectedAs
}

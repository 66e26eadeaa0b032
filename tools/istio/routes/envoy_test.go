package routes

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// What the simulation (istio.io/istio/pilot/pkg/simulation) leaves out, done here as Envoy does
// it: a virtual host's routes are tried in order and the first whose path, headers and query
// parameters all match wins (simulation.matchRoute only looks at the path); a route's action is
// one cluster or weighted clusters (simulation.Result.ClusterMatched is empty for the latter).

// request is what a route is matched against.
type request struct {
	path    string
	headers http.Header
}

// regexCache: the same few regexes are compiled once (subtests run in parallel).
var (
	regexMu    sync.Mutex
	regexCache = map[string]*regexp.Regexp{}
)

// fullMatch is Envoy's safe_regex: RE2, matched against the whole value.
func fullMatch(re, value string) (bool, error) {
	regexMu.Lock()
	r, ok := regexCache[re]
	if !ok {
		var err error
		if r, err = regexp.Compile(`^(?:` + re + `)$`); err != nil {
			regexMu.Unlock()
			return false, fmt.Errorf("regex %q: %v", re, err)
		}
		regexCache[re] = r
	}
	regexMu.Unlock()
	return r.MatchString(value), nil
}

func stringMatch(m *matcher.StringMatcher, value string) (bool, error) {
	v := value
	fold := func(s string) string { return s }
	if m.GetIgnoreCase() {
		fold = strings.ToLower
		v = strings.ToLower(v)
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return v == fold(p.Exact), nil
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(v, fold(p.Prefix)), nil
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(v, fold(p.Suffix)), nil
	case *matcher.StringMatcher_Contains:
		return strings.Contains(v, fold(p.Contains)), nil
	case *matcher.StringMatcher_SafeRegex:
		return fullMatch(p.SafeRegex.GetRegex(), value)
	default:
		return false, fmt.Errorf("unsupported string matcher %T", p)
	}
}

// headerMatch follows Envoy's HeaderUtility::matchHeaders: a missing header matches only
// `present_match: false` (or an inverted `present_match: true`), unless it is treated as empty;
// several values of one header are joined with ",".
func headerMatch(h *route.HeaderMatcher, headers http.Header) (bool, error) {
	values, present := headers[http.CanonicalHeaderKey(h.GetName())]
	if !present && !h.GetTreatMissingHeaderAsEmpty() {
		if pm, ok := h.GetHeaderMatchSpecifier().(*route.HeaderMatcher_PresentMatch); ok {
			return pm.PresentMatch == h.GetInvertMatch(), nil
		}
		return false, nil
	}
	value := strings.Join(values, ",")
	var match bool
	var err error
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *route.HeaderMatcher_StringMatch:
		match, err = stringMatch(s.StringMatch, value)
	case *route.HeaderMatcher_ExactMatch:
		match = value == s.ExactMatch
	case *route.HeaderMatcher_SafeRegexMatch:
		match, err = fullMatch(s.SafeRegexMatch.GetRegex(), value)
	case *route.HeaderMatcher_PrefixMatch:
		match = strings.HasPrefix(value, s.PrefixMatch)
	case *route.HeaderMatcher_SuffixMatch:
		match = strings.HasSuffix(value, s.SuffixMatch)
	case *route.HeaderMatcher_ContainsMatch:
		match = strings.Contains(value, s.ContainsMatch)
	case *route.HeaderMatcher_PresentMatch:
		match = s.PresentMatch == present
	case nil:
		match = true
	default:
		return false, fmt.Errorf("unsupported header matcher %T on %q", s, h.GetName())
	}
	if err != nil {
		return false, err
	}
	return match != h.GetInvertMatch(), nil
}

func pathMatch(m *route.RouteMatch, path string) (bool, error) {
	switch p := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		return strings.HasPrefix(path, p.Prefix), nil
	case *route.RouteMatch_Path:
		return path == p.Path, nil
	case *route.RouteMatch_PathSeparatedPrefix:
		return path == p.PathSeparatedPrefix || strings.HasPrefix(path, p.PathSeparatedPrefix+"/"), nil
	case *route.RouteMatch_SafeRegex:
		return fullMatch(p.SafeRegex.GetRegex(), path)
	default:
		return false, fmt.Errorf("unsupported path matcher %T", p)
	}
}

func routeMatches(r *route.Route, req request) (bool, error) {
	m := r.GetMatch()
	if ok, err := pathMatch(m, req.path); !ok || err != nil {
		return ok, err
	}
	for _, h := range m.GetHeaders() {
		if ok, err := headerMatch(h, req.headers); !ok || err != nil {
			return ok, err
		}
	}
	if len(m.GetQueryParameters()) > 0 {
		// The request has no query string: a query parameter matcher cannot match.
		return false, nil
	}
	if m.GetRuntimeFraction() != nil || m.GetGrpc() != nil || len(m.GetDynamicMetadata()) > 0 {
		return false, fmt.Errorf("route %q: unsupported match condition %v", r.GetName(), m)
	}
	return true, nil
}

// weighted is one cluster a route sends a share (0-1) of its requests to.
type weighted struct {
	cluster string
	share   float64
	// setCookie is the Set-Cookie header the route adds to responses from this cluster ("": none).
	setCookie string
}

// setCookieOf is the Set-Cookie header among headers a route adds to responses ("": none); the
// first list that has one wins (a weighted cluster's own, then its route's).
func setCookieOf(lists ...[]*core.HeaderValueOption) string {
	for _, list := range lists {
		for _, o := range list {
			if strings.EqualFold(o.GetHeader().GetKey(), "set-cookie") {
				return o.GetHeader().GetValue()
			}
		}
	}
	return ""
}

// firstRoute is the route Envoy picks in a virtual host: the first that matches.
func firstRoute(vh *route.VirtualHost, req request) (*route.Route, error) {
	for _, r := range vh.GetRoutes() {
		ok, err := routeMatches(r, req)
		if err != nil {
			return nil, err
		}
		if ok {
			return r, nil
		}
	}
	return nil, nil
}

// routeClusters is where a route's action sends requests; an error for anything but cluster(s).
func routeClusters(r *route.Route) ([]weighted, error) {
	switch a := r.GetAction().(type) {
	case *route.Route_Route:
		switch c := a.Route.GetClusterSpecifier().(type) {
		case *route.RouteAction_Cluster:
			return []weighted{{cluster: c.Cluster, share: 1, setCookie: setCookieOf(r.GetResponseHeadersToAdd())}}, nil
		case *route.RouteAction_WeightedClusters:
			out, err := weightedShares(c.WeightedClusters.GetClusters(), func(w *route.WeightedCluster_ClusterWeight) (string, uint32) {
				return w.GetName(), w.GetWeight().GetValue()
			})
			for i := range out {
				for _, w := range c.WeightedClusters.GetClusters() {
					if w.GetName() == out[i].cluster {
						out[i].setCookie = setCookieOf(w.GetResponseHeadersToAdd(), r.GetResponseHeadersToAdd())
					}
				}
			}
			return out, err
		default:
			return nil, fmt.Errorf("route %q: unsupported cluster specifier %T", r.GetName(), c)
		}
	case *route.Route_DirectResponse:
		return nil, fmt.Errorf("route %q answers directly with status %d", r.GetName(), a.DirectResponse.GetStatus())
	case *route.Route_Redirect:
		return nil, fmt.Errorf("route %q redirects", r.GetName())
	default:
		return nil, fmt.Errorf("route %q: unsupported action %T", r.GetName(), a)
	}
}

func weightedShares[T any](items []T, get func(T) (string, uint32)) ([]weighted, error) {
	var total uint32
	for _, it := range items {
		_, w := get(it)
		total += w
	}
	if total == 0 {
		return nil, fmt.Errorf("weighted clusters with total weight 0")
	}
	out := []weighted{}
	for _, it := range items {
		name, w := get(it)
		if w > 0 {
			out = append(out, weighted{cluster: name, share: float64(w) / float64(total)})
		}
	}
	return out, nil
}

// clustersOfRoute lists every cluster a route can send to (for the scan of all routes).
func clustersOfRoute(r *route.Route) []string {
	rr := r.GetRoute()
	if rr == nil {
		return nil
	}
	if c := rr.GetCluster(); c != "" {
		return []string{c}
	}
	var out []string
	for _, w := range rr.GetWeightedClusters().GetClusters() {
		out = append(out, w.GetName())
	}
	return out
}

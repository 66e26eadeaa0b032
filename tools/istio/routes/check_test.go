package routes

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pilot/test/xdstest"
	kubelib "istio.io/istio/pkg/kube"
)

// Problem categories (a control case names the one it must be detected as).
const (
	catUndefinedCluster = "undefined-cluster" // a route to a cluster that is not in CDS
	catNoEndpoints      = "no-endpoints"      // a route to a cluster whose EDS has no endpoint
	catNoMatch          = "no-match"          // no listener, filter chain, virtual host or route
	catUsers            = "users"             // users' chains differ from the brief's (ROUTES)
	catStorage          = "storage"           // a storage client reaches another engine/version
	catCallBackend      = "call-backend"      // a stage's mesh route: the call is not served by its version's backend (cluster) or reaches another version
	catCrossing         = "crossing"          // mid-transition: a request's chain mixes 1.x and 2.0
	// catDenied, catAllowed: authz_test.go
)

type tcpClusterWeight = tcpproxy.TcpProxy_WeightedCluster_ClusterWeight

type problem struct {
	category string
	message  string
}

func (p problem) String() string { return fmt.Sprintf("[%s] %s", p.category, p.message) }

// lbEndpoint is one EDS endpoint of a cluster.
type lbEndpoint struct {
	address string
	weight  uint32
}

// proxyView is what Istio generates for one proxy: listeners, routes, clusters and endpoints.
type proxyView struct {
	name      string
	sim       *simulation.Simulation
	clusters  map[string]*cluster.Cluster
	endpoints map[string][]lbEndpoint
	routes    map[string]*route.RouteConfiguration
	gateway   bool
}

// hop is one pod a call reaches, with its share (0-1) and the cluster that took it there.
type hop struct {
	to      *workload
	share   float64
	cluster string
	// setCookie: the Set-Cookie header the route that chose this hop's cluster adds ("": none).
	setCookie string
}

// callResult is where one call goes: pods with shares, and the share that fails.
type callResult struct {
	hops     []hop
	failed   float64
	clusters []weighted
}

type checker struct {
	t        *testing.T
	c        *routeCase
	s        *xds.FakeDiscoveryServer
	byIP     map[string]*workload
	byDeploy map[string]*workload
	services map[string]service // "name.namespace"
	views    map[string]*proxyView
	problems []problem
	seen     map[string]bool
	memo     map[string]callResult
	// Least privilege (authz_test.go): the calls followed so far, and the callees' RBAC filters.
	routed     []routedCall
	routedSeen map[string]bool
	rbacMemo   map[string]inboundRBAC
}

func newChecker(t *testing.T, c *routeCase) *checker {
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: c.Kubernetes, ConfigString: c.Istio, KubeClientBuilder: fakeKubeClient,
	})
	ck := &checker{
		t: t, c: c, s: s,
		byIP: map[string]*workload{}, byDeploy: map[string]*workload{}, services: map[string]service{},
		views: map[string]*proxyView{}, seen: map[string]bool{}, memo: map[string]callResult{},
		routedSeen: map[string]bool{}, rbacMemo: map[string]inboundRBAC{},
	}
	for i := range c.Workloads {
		w := &c.Workloads[i]
		ck.byIP[w.PodIP] = w
		ck.byDeploy[w.Deployment] = w
	}
	ck.byIP[c.Ingress.PodIP] = &workload{Deployment: c.Ingress.ServiceName, Component: c.Ingress.ServiceName, PodName: c.Ingress.PodName, PodIP: c.Ingress.PodIP}
	for _, svc := range c.Services {
		ck.services[svc.Name+"."+svc.Namespace] = svc
	}
	return ck
}

// fakeKubeClient is the fake discovery server's own fake Kubernetes client (kube.NewFakeClientWithVersion),
// holding the same objects, with one difference in how they get there: the objects of Kubernetes'
// own API groups (Namespaces, Services, Pods, EndpointSlices) are added to its clientset's object
// tracker with Add instead of Create. client-go's field-managed tracker builds a REST mapper of
// the whole scheme on every Create (testrestmapper.TestOnlyStaticRESTMapper), which was most of a
// case's run time; Add stores the object as given, without managed fields, which Istio does not
// read. Istio's and Gateway API's objects go through kube.NewFakeClient as before (their
// clientsets' trackers are the simple ones).
func fakeKubeClient(objects ...runtime.Object) kubelib.Client {
	var own, others []runtime.Object
	for _, o := range objects {
		group := o.GetObjectKind().GroupVersionKind().Group
		if o.GetObjectKind().GroupVersionKind().Kind == "" {
			if gvks, _, err := kubelib.IstioScheme.ObjectKinds(o); err == nil && len(gvks) > 0 {
				group = gvks[0].Group
			}
		}
		// kube.NewFakeClient's own split (setupFakeClient): these groups have clientsets of their own.
		if strings.Contains(group, "istio.io") || strings.Contains(group, "gateway.networking") || strings.Contains(group, "inference") {
			others = append(others, o)
		} else {
			own = append(own, o)
		}
	}
	client := kubelib.NewFakeClientWithVersion("", others...) // as FakeOptions{} builds it (no KubernetesVersion)
	tracker := client.Kube().(*kubefake.Clientset).Tracker()
	for _, o := range own {
		if err := tracker.Add(o.DeepCopyObject()); err != nil {
			panic(fmt.Sprintf("adding %v to the fake Kubernetes API: %v", o.GetObjectKind().GroupVersionKind(), err))
		}
	}
	return client
}

func (ck *checker) report(category, format string, args ...any) {
	p := problem{category: category, message: fmt.Sprintf(format, args...)}
	if !ck.seen[p.String()] {
		ck.seen[p.String()] = true
		ck.problems = append(ck.problems, p)
	}
}

// view builds (once) what Istio generates for the gateway ("" ) or a workload's sidecar.
func (ck *checker) view(w *workload) *proxyView {
	key := ""
	if w != nil {
		key = w.PodName
	}
	if v, ok := ck.views[key]; ok {
		return v
	}
	var p *model.Proxy
	if w == nil {
		in := ck.c.Ingress
		p = &model.Proxy{
			Type: model.Router, ID: in.PodName + "." + in.Namespace, Labels: in.Labels,
			Metadata:        &model.NodeMetadata{Labels: in.Labels, Namespace: in.Namespace},
			ConfigNamespace: in.Namespace, IPAddresses: []string{in.PodIP},
		}
	} else {
		ns := "voting"
		p = &model.Proxy{
			Type: model.SidecarProxy, ID: w.PodName + "." + ns, Labels: w.Labels,
			Metadata:        &model.NodeMetadata{Labels: w.Labels, Namespace: ns},
			ConfigNamespace: ns, IPAddresses: []string{w.PodIP},
		}
	}
	p = ck.s.SetupProxy(p)
	sim := simulation.NewSimulation(ck.t, ck.s, p)
	v := &proxyView{
		name: "ingress gateway", sim: sim, gateway: w == nil,
		clusters:  xdstest.ExtractClusters(sim.Clusters),
		endpoints: map[string][]lbEndpoint{},
		routes:    xdstest.ExtractRouteConfigurations(sim.Routes),
	}
	if w != nil {
		v.name = w.Deployment + "'s sidecar"
	}
	for _, cla := range ck.s.Endpoints(p) {
		v.endpoints[cla.GetClusterName()] = append(v.endpoints[cla.GetClusterName()], usable(cla)...)
	}
	for name, c := range v.clusters {
		if c.GetType() != cluster.Cluster_EDS && c.GetLoadAssignment() != nil {
			v.endpoints[name] = usable(c.GetLoadAssignment())
		}
	}
	ck.views[key] = v
	return v
}

// usable: the endpoints Envoy balances over (not unhealthy, draining or timed out).
func usable(cla *endpoint.ClusterLoadAssignment) []lbEndpoint {
	var out []lbEndpoint
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			switch e.GetHealthStatus() {
			case core.HealthStatus_UNHEALTHY, core.HealthStatus_DRAINING, core.HealthStatus_TIMEOUT:
				continue
			}
			addr := e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
			if addr == "" {
				continue
			}
			w := e.GetLoadBalancingWeight().GetValue()
			if w == 0 {
				w = 1
			}
			out = append(out, lbEndpoint{address: addr, weight: w})
		}
	}
	return out
}

// fqdn of a host as a pod in namespace ns resolves it.
func fqdn(host, ns string) string {
	if strings.Contains(host, ".") {
		return host
	}
	return host + "." + ns + ".svc.cluster.local"
}

func (ck *checker) clusterIP(host, ns string) (string, bool) {
	name, rest, _ := strings.Cut(fqdn(host, ns), ".")
	namespace, _, _ := strings.Cut(rest, ".")
	svc, ok := ck.services[name+"."+namespace]
	return svc.ClusterIP, ok
}

// toPods sends each cluster's share over its endpoints (round robin: by endpoint weight), and
// reports clusters that CDS does not define or that have no endpoint.
func (ck *checker) toPods(v *proxyView, what string, clusters []weighted) callResult {
	res := callResult{clusters: clusters}
	for _, wc := range clusters {
		c, ok := v.clusters[wc.cluster]
		if !ok {
			ck.report(catUndefinedCluster, "%s: %s of requests go to cluster %s, which %s's CDS does not define (503 NC)", what, pct(wc.share), wc.cluster, v.name)
			res.failed += wc.share
			continue
		}
		if c.GetType() == cluster.Cluster_ORIGINAL_DST || wc.cluster == "PassthroughCluster" || wc.cluster == "BlackHoleCluster" {
			ck.report(catNoMatch, "%s: %s of requests go to %s (no service route matched)", what, pct(wc.share), wc.cluster)
			res.failed += wc.share
			continue
		}
		eps := v.endpoints[wc.cluster]
		if len(eps) == 0 {
			ck.report(catNoEndpoints, "%s: %s of requests go to cluster %s, which has no endpoint in %s's EDS (503 UH)", what, pct(wc.share), wc.cluster, v.name)
			res.failed += wc.share
			continue
		}
		var total float64
		for _, e := range eps {
			total += float64(e.weight)
		}
		for _, e := range eps {
			pod, ok := ck.byIP[e.address]
			if !ok {
				ck.report(catNoEndpoints, "%s: cluster %s has endpoint %s, which is no pod of this case", what, wc.cluster, e.address)
				res.failed += wc.share * float64(e.weight) / total
				continue
			}
			res.hops = append(res.hops, hop{to: pod, share: wc.share * float64(e.weight) / total, cluster: wc.cluster, setCookie: wc.setCookie})
		}
	}
	return res
}

// run passes a call through the simulation and returns the filter chain it matched.
func run(v *proxyView, call simulation.Call) (simulation.Result, *listener.FilterChain) {
	var fc *listener.FilterChain
	call.CustomListenerValidations = []simulation.CustomFilterChainValidation{func(f *listener.FilterChain) error {
		fc = f
		return nil
	}}
	return v.sim.Run(call), fc
}

// httpCall: an HTTP request through the proxy's listeners, then (done here) the first route of
// the matched virtual host whose path and header matchers all match, and its cluster(s).
func (ck *checker) httpCall(v *proxyView, what string, call simulation.Call) callResult {
	call.Protocol = simulation.HTTP
	res, fc := run(v, call)
	if res.Error != nil && !errors.Is(res.Error, simulation.ErrNoRoute) {
		ck.report(catNoMatch, "%s: %v (listener %q)", what, res.Error, res.ListenerMatched)
		return callResult{failed: 1}
	}
	hcm := xdstest.ExtractHTTPConnectionManager(ck.t, fc)
	rc := hcm.GetRouteConfig()
	if rc == nil {
		rc = v.routes[hcm.GetRds().GetRouteConfigName()]
	}
	var vh *route.VirtualHost
	for _, h := range rc.GetVirtualHosts() {
		if h.GetName() == res.VirtualHostMatched {
			vh = h
		}
	}
	if vh == nil {
		ck.report(catNoMatch, "%s: no virtual host %q in route configuration %q", what, res.VirtualHostMatched, res.RouteConfigMatched)
		return callResult{failed: 1}
	}
	req := request{path: call.Path, headers: call.Headers}
	if req.path == "" {
		req.path = "/"
	}
	r, err := firstRoute(vh, req)
	if err != nil {
		ck.report(catNoMatch, "%s: %v", what, err)
		return callResult{failed: 1}
	}
	if r == nil {
		ck.report(catNoMatch, "%s: no route of virtual host %q matches (404)", what, vh.GetName())
		return callResult{failed: 1}
	}
	clusters, err := routeClusters(r)
	if err != nil {
		ck.report(catNoMatch, "%s: %v", what, err)
		return callResult{failed: 1}
	}
	return ck.toPods(v, fmt.Sprintf("%s (route %q)", what, r.GetName()), clusters)
}

// tcpCall: a TCP connection through the proxy's listeners to its tcp_proxy's cluster(s).
func (ck *checker) tcpCall(v *proxyView, what string, call simulation.Call) callResult {
	call.Protocol = simulation.TCP
	res, fc := run(v, call)
	if res.Error != nil {
		ck.report(catNoMatch, "%s: %v (listener %q)", what, res.Error, res.ListenerMatched)
		return callResult{failed: 1}
	}
	tcp := xdstest.ExtractTCPProxy(ck.t, fc)
	if tcp == nil {
		ck.report(catNoMatch, "%s: filter chain %q of listener %q has no tcp_proxy", what, res.FilterChainMatched, res.ListenerMatched)
		return callResult{failed: 1}
	}
	clusters := []weighted{{cluster: tcp.GetCluster(), share: 1}}
	if wc := tcp.GetWeightedClusters(); wc != nil {
		var err error
		clusters, err = weightedShares(wc.GetClusters(), func(c *tcpClusterWeight) (string, uint32) { return c.GetName(), c.GetWeight() })
		if err != nil {
			ck.report(catNoMatch, "%s: %v", what, err)
			return callResult{failed: 1}
		}
	}
	return ck.toPods(v, fmt.Sprintf("%s (listener %s)", what, res.ListenerMatched), clusters)
}

// callFrom follows one call a pod's sidecar makes to a Service of namespace voting, once per pod
// and kind of call (the result is remembered): `call` gets the Service's clusterIP.
func (ck *checker) callFrom(w *workload, kind, host, what string, call func(ip string) callResult) callResult {
	key := kind + "/" + w.Deployment
	if r, ok := ck.memo[key]; ok {
		return r
	}
	var r callResult
	if ip, ok := ck.clusterIP(host, "voting"); ok {
		r = call(ip)
		protocol := "tcp"
		if kind == "analytics" {
			protocol = "http"
		}
		ck.recordRouted(w.Deployment, w.Principal, protocol, "its "+kind+" call makes", r)
	} else {
		ck.report(catNoMatch, "%s: no Service %s", what, host)
		r = callResult{failed: 1}
	}
	ck.memo[key] = r
	return r
}

// analyticsCall: the app pod's HTTP request to ANALYTICS_HOST:ANALYTICS_PORT from its sidecar, with
// the headers the app adds to it (its version: the case's workload.analytics.headers).
func (ck *checker) analyticsCall(w *workload) callResult {
	a := w.Analytics
	headers := http.Header{}
	names := make([]string, 0, len(a.Headers))
	for name, value := range a.Headers {
		headers.Set(name, value)
		names = append(names, fmt.Sprintf("%s: %s", name, value))
	}
	sort.Strings(names)
	what := fmt.Sprintf("%s -> %s:%d (HTTP GET /analytics, %s)", w.Deployment, a.Host, a.Port, strings.Join(names, ", "))
	return ck.callFrom(w, "analytics", a.Host, what, func(ip string) callResult {
		return ck.httpCall(ck.view(w), what, simulation.Call{
			Address: ip, Port: a.Port, Path: "/analytics", HostHeader: fmt.Sprintf("%s:%d", a.Host, a.Port),
			Headers: headers, CallMode: simulation.CallModeOutbound,
		})
	})
}

// storageCall: the pod's TCP connection to its store (REDIS_* or MYSQL_* settings) from its sidecar.
func (ck *checker) storageCall(w *workload) callResult {
	st := w.Storage
	what := fmt.Sprintf("%s -> %s:%d (%s)", w.Deployment, st.Host, st.Port, st.Engine)
	return ck.callFrom(w, "storage", st.Host, what, func(ip string) callResult {
		return ck.tcpCall(ck.view(w), what, simulation.Call{Address: ip, Port: st.Port, CallMode: simulation.CallModeOutbound})
	})
}

// userChains follows users' requests with one Cookie header (nil: none) from the ingress gateway
// to an app pod, its call to analytics, and both pods' calls to storage; shares in percent.
func (ck *checker) userChains(cookie *string) (map[chain]float64, float64) {
	chains, failed, _ := ck.userChainsAndCookies(cookie)
	return chains, failed
}

// userChainsAndCookies is userChains, plus the cookie (name=value, "" none) the gateway's route sets
// in the response, per app version reached.
func (ck *checker) userChainsAndCookies(cookie *string) (map[chain]float64, float64, map[string]string) {
	headers := http.Header{}
	label := "no Cookie header"
	if cookie != nil {
		headers.Set("Cookie", *cookie)
		label = fmt.Sprintf("Cookie %q", *cookie)
	}
	in := ck.c.Ingress
	what := fmt.Sprintf("user request GET http://%s:%d/ with %s", in.Host, in.Port, label)
	gw := ck.httpCall(ck.view(nil), what, simulation.Call{
		Address: in.PodIP, Port: in.Port, Path: "/", HostHeader: in.Host, Headers: headers, CallMode: simulation.CallModeGateway,
	})
	ck.recordRouted("ingress-gateway", in.Principal, "http", "the ingress route sends", gw)
	chains := map[chain]float64{}
	sets := map[string]string{}
	for _, app := range gw.hops {
		set, _, _ := strings.Cut(app.setCookie, ";")
		if previous, seen := sets[app.to.Version]; seen && previous != set {
			ck.report(catUsers, "%s: app %s is reached with two different cookies set, %q and %q", what, app.to.Version, previous, set)
		}
		sets[app.to.Version] = strings.TrimSpace(set)
		if app.to.Component != "voting-app" || app.to.Analytics == nil || app.to.Storage == nil {
			ck.report(catUsers, "%s: %s reach %s, which is not a voting-app pod with analytics and storage settings", what, pct(app.share), app.to.Deployment)
			continue
		}
		appStorage := ck.storageCall(app.to)
		for _, a := range ck.analyticsCall(app.to).hops {
			if a.to.Storage == nil {
				ck.report(catUsers, "%s: app %s reaches %s, which has no storage settings", what, app.to.Version, a.to.Deployment)
				continue
			}
			for _, s1 := range appStorage.hops {
				for _, s2 := range ck.storageCall(a.to).hops {
					c := chain{App: app.to.Version, Analytics: a.to.Version, AppStorage: s1.to.Version, AnalyticsStorage: s2.to.Version}
					chains[c] += app.share * a.share * s1.share * s2.share * 100
				}
			}
		}
	}
	// Whatever share no chain took failed somewhere on the way (each failure is reported above).
	served := 0.0
	for _, share := range chains {
		served += share
	}
	return chains, math.Max(0, 100-served), sets
}

func pct(share float64) string { return fmt.Sprintf("%.1f%%", share*100) }

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func describeChains(chains map[chain]float64, failed float64) string {
	var parts []string
	for c, share := range chains {
		parts = append(parts, fmt.Sprintf("%.1f%% %s", round1(share), c.path()))
	}
	sort.Strings(parts)
	if round1(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%.1f%% FAIL", round1(failed)))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// sharesOf: expected chains (each with its share) as userChains returns them, chain -> share.
func sharesOf(chains []chain) map[chain]float64 {
	out := map[chain]float64{}
	for _, c := range chains {
		share := c.Share
		c.Share = 0
		out[c] += share
	}
	return out
}

// checkUsers: every cookie's chains against the expected ones (shares rounded to 0.1 %), or, for
// mid-transition states, only that every request is served and no chain mixes 1.x and 2.0.
func (ck *checker) checkUsers() {
	type group struct {
		name    string
		cookies []*string
		want    []chain
	}
	groups := []group{{"without the flag", ck.c.Cookies.WithoutFlag, nil}, {"with the flag", ck.c.Cookies.WithFlag, nil}}
	if u := ck.c.Expect.Users; u != nil {
		groups[0].want, groups[1].want = u.WithoutFlag, u.WithFlag
	}
	for _, g := range groups {
		for _, cookie := range g.cookies {
			got, failed := ck.userChains(cookie)
			label := "no Cookie header"
			if cookie != nil {
				label = fmt.Sprintf("Cookie %q", *cookie)
			}
			if ck.c.Expect.Users != nil {
				if want := sharesOf(g.want); describeChains(got, failed) != describeChains(want, 0) {
					ck.report(catUsers, "users %s (%s): got %s; want %s", g.name, label, describeChains(got, failed), describeChains(want, 0))
				}
			}
			if ck.c.Expect.ChainsDoNotCross {
				for c, share := range got {
					majors := map[string]bool{}
					for _, v := range []string{c.App, c.Analytics, c.AppStorage, c.AnalyticsStorage} {
						major, _, _ := strings.Cut(v, ".")
						majors[major] = true
					}
					if len(majors) > 1 {
						ck.report(catCrossing, "users %s (%s): %.1f%% take %s", g.name, label, round1(share), c.path())
					}
				}
			}
		}
	}
}

// checkStorageClients: every app and analytics pod, routed to or not, reaches its own engine.
func (ck *checker) checkStorageClients() {
	for _, sc := range ck.c.Expect.StorageClients {
		w := ck.byDeploy[sc.Client]
		if w == nil || w.Storage == nil {
			ck.report(catStorage, "%s: no pod with storage settings in this case", sc.Client)
			continue
		}
		if w.Storage.Port != sc.Port {
			ck.report(catStorage, "%s opens %s:%d, but its engine listens on %d", sc.Client, w.Storage.Host, w.Storage.Port, sc.Port)
		}
		r := ck.storageCall(w)
		wrong := map[string]float64{}
		for _, h := range r.hops {
			if h.to.Component != "voting-storage" || h.to.Version != sc.Version {
				wrong[fmt.Sprintf("%s (version %s)", h.to.Deployment, h.to.Version)] += h.share
			}
		}
		for pod, share := range wrong {
			ck.report(catStorage, "%s -> %s:%d: %s reach %s; want voting-storage %s only", sc.Client, w.Storage.Host, w.Storage.Port, pct(share), pod, sc.Version)
		}
		if r.failed > 0 {
			ck.report(catStorage, "%s -> %s:%d: %s of connections fail", sc.Client, w.Storage.Host, w.Storage.Port, pct(r.failed))
		}
	}
}

// checkCalls: each of the stage's service-to-service routes is served by its version's backend
// (one of the expected clusters: a subset's, a per-version Service's, or without mesh routing the
// plain Service's), and reaches pods of that version only (both APIs' promise, whatever the cluster).
func (ck *checker) checkCalls() {
	for _, ec := range ck.c.Expect.Calls {
		w := ck.byDeploy[ec.From]
		if w == nil {
			ck.report(catCallBackend, "%s: no pod in this case", ec.From)
			continue
		}
		var r callResult
		if ec.Kind == "analytics" {
			r = ck.analyticsCall(w)
		} else {
			r = ck.storageCall(w)
		}
		call := fmt.Sprintf("%s -> %s:%d", ec.From, ec.Host, ec.Port)
		for _, c := range r.clusters {
			if !contains(ec.Clusters, c.cluster) {
				ck.report(catCallBackend, "%s: %s go to cluster %s; the stage routes it to %s (%s)", call, pct(c.share), c.cluster, versionName(ec.Version), strings.Join(ec.Clusters, " or "))
			}
		}
		if ec.Version == "" {
			continue
		}
		wrong := map[string]float64{}
		for _, h := range r.hops {
			if h.to.Version != ec.Version {
				wrong[fmt.Sprintf("%s (version %s) through cluster %s", h.to.Deployment, h.to.Version, h.cluster)] += h.share
			}
		}
		pods := make([]string, 0, len(wrong))
		for pod := range wrong {
			pods = append(pods, pod)
		}
		sort.Strings(pods)
		for _, pod := range pods {
			ck.report(catCallBackend, "%s: %s reach %s; the stage routes it to %s only", call, pct(wrong[pod]), pod, versionName(ec.Version))
		}
	}
}

func versionName(v string) string {
	if v == "" {
		return "the plain Service"
	}
	return "version " + v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scanRoutes: every route of every proxy, whether or not a request above took it, points at a
// defined cluster with endpoints. Only the routes a route object adds (what make-before-break is
// about): on a sidecar, HTTP routes to a version subset or to another Service than the one their
// virtual host is for (a VirtualService's subsets, an HTTPRoute's per-version Services) and TCP
// routes to a subset; on the ingress gateway, every route. A sidecar also has a default route per
// Service port, to that Service, and a port whose engine does not run has no endpoints by design.
func (ck *checker) scanRoutes() {
	views := []*proxyView{ck.view(nil)}
	for i := range ck.c.Workloads {
		views = append(views, ck.view(&ck.c.Workloads[i]))
	}
	for _, v := range views {
		// domains: the virtual host's domains (nil for a tcp_proxy); a route there to a cluster of
		// one of them is the Service's own default route.
		checkIn := func(domains []string, where, name string) {
			parts := strings.Split(name, "|")
			if len(parts) != 4 || parts[0] != "outbound" {
				return
			}
			if !v.gateway && parts[2] == "" && (domains == nil || contains(domains, parts[3])) {
				return
			}
			if _, ok := v.clusters[name]; !ok {
				ck.report(catUndefinedCluster, "%s: %s routes to cluster %s, which CDS does not define", v.name, where, name)
			} else if len(v.endpoints[name]) == 0 {
				ck.report(catNoEndpoints, "%s: %s routes to cluster %s, which has no endpoint", v.name, where, name)
			}
		}
		for _, rc := range v.routes {
			for _, vh := range rc.GetVirtualHosts() {
				domains := vh.GetDomains()
				if domains == nil {
					domains = []string{}
				}
				for _, r := range vh.GetRoutes() {
					for _, c := range clustersOfRoute(r) {
						checkIn(domains, fmt.Sprintf("route %q of %s/%s", r.GetName(), rc.GetName(), vh.GetName()), c)
					}
				}
			}
		}
		check := func(where, name string) { checkIn(nil, where, name) }
		for _, l := range v.sim.Listeners {
			for _, fc := range l.GetFilterChains() {
				tcp := xdstest.ExtractTCPProxy(ck.t, fc)
				if tcp == nil {
					continue
				}
				where := fmt.Sprintf("tcp_proxy of listener %s", l.GetName())
				if c := tcp.GetCluster(); c != "" {
					check(where, c)
				}
				for _, c := range tcp.GetWeightedClusters().GetClusters() {
					check(where, c.GetName())
				}
			}
		}
	}
}

// check runs every check of a case and returns the problems found.
func (ck *checker) check() []problem {
	ck.checkUsers()
	ck.checkSticky()
	ck.checkStorageClients()
	ck.checkCalls()
	ck.scanRoutes()
	ck.checkAuthorization()
	return ck.problems
}

// checkSticky: the sticky weighted canary. For each Cookie header carrying the canary cookie, the
// chains users reach and the cookie the response sets per app version, against the expectations.
func (ck *checker) checkSticky() {
	for _, st := range ck.c.Expect.Sticky {
		cookie := st.Cookie
		got, failed, sets := ck.userChainsAndCookies(&cookie)
		if want := sharesOf(st.Chains); describeChains(got, failed) != describeChains(want, 0) {
			ck.report(catUsers, "sticky canary (Cookie %q): got %s; want %s", cookie, describeChains(got, failed), describeChains(want, 0))
		}
		for version, set := range sets {
			if wanted := st.SetCookie[version]; set != wanted {
				ck.report(catUsers, "sticky canary (Cookie %q): app %s's responses set cookie %q; want %q", cookie, version, set, wanted)
			}
		}
	}
}

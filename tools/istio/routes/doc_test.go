// Package routes holds a test, TestRoutes, that feeds the Kubernetes and Istio objects of every
// rollout state (written by rig/route-cases.ts from the real Pulumi program run under mocks)
// to Istio's own config generator (istio.io/istio/pilot/test/xds), and checks, on the Envoy
// listeners, routes, clusters and endpoints it generates for the ingress gateway and for each
// app pod's sidecar, who reaches which version. Every state comes in both traffic APIs: Istio's
// Gateway, VirtualServices and DestinationRules (in the config store), and Kubernetes Gateway
// API's Gateway, HTTPRoutes and per-version Services (in the fake Kubernetes API, where Istio's
// gateway controller reads them and translates them into the same kind of Envoy configuration),
// held to the same expectations; api-switch cases hold both at once, as a `pulumi up` that
// switches traffic.api passes through them. Case kinds: stage, transition,
// api-switch, control (rig/route-cases.ts says what each holds). To run it:
//
//	node -r ts-node/register/transpile-only rig/route-cases.ts /tmp/cases
//	ROUTE_CASES=/tmp/cases bash scripts/istio-tools.sh test [-run TestRoutes/stage/canary]
//
// Everything is in _test.go files, this one included: the package has nothing to build on its
// own, and scripts/lib-gobuild.sh leaves _test.go files out of the stamps that decide whether
// istioctl and pilot-discovery (same module) are rebuilt.
package routes

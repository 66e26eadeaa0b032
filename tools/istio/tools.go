//go:build tools

// Package tools pins, in this module's go.mod and go.sum, everything the Istio binaries built
// from it need: istioctl (analyzers) and pilot-discovery (istiod). scripts/istio-tools.sh builds
// them into .tools/bin; the route-computation test in ./routes shares the same module graph and
// so the same Go build cache.
package tools

import (
	// What the two main packages import besides these (GOMEMLIMIT from the cgroup; client auth plugins).
	_ "github.com/KimMachineGun/automemlimit"
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	_ "istio.io/istio/istioctl/cmd"
	_ "istio.io/istio/pilot/cmd/pilot-discovery/app"
)

package routes

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	rbacpb "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	rbacnet "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"

	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/wellknown"
)

// Least privilege (the stack's AuthorizationPolicies, traffic.authorization): what Istio generates
// from them is the RBAC filters of each callee's inbound filter chain; a call passes when every
// filter of the chain lets it through, as Envoy evaluates them (config/rbac/v3: a policy matches
// when one of its permissions and one of its principals match; an ALLOW filter refuses what no
// policy matches, a DENY filter what one matches; a filter without rules enforces nothing).
const (
	catDenied  = "denied"  // a call the stage makes (a route's, a client's, or an expected one) is refused
	catAllowed = "allowed" // a call outside the stage's calls is let through
)

// authzCall: one call to check against the callee's RBAC filters (test/support/routeCases.ts, AuthzCall).
type authzCall struct {
	From      string `json:"from"`
	Principal string `json:"principal"`
	To        string `json:"to"`
	Port      int    `json:"port"`
	Protocol  string `json:"protocol"`
}

type authzExpectations struct {
	Allowed []authzCall `json:"allowed"`
	Denied  []authzCall `json:"denied"`
}

// routedCall: a call some route or client of the case makes (recorded while following requests).
type routedCall struct {
	call authzCall
	via  string
}

// inboundRBAC: the RBAC rules of the filter chain an mTLS call to the pod's port takes (memoized).
type inboundRBAC struct {
	rules []*rbacpb.RBAC // nil entries: a filter that enforces nothing
	chain string
	err   error
}

func (ck *checker) inbound(to *workload, port int, protocol string) inboundRBAC {
	key := fmt.Sprintf("rbac/%s/%d/%s", to.PodName, port, protocol)
	if r, ok := ck.rbacMemo[key]; ok {
		return r
	}
	proto := simulation.TCP
	if protocol == "http" {
		proto = simulation.HTTP
	}
	v := ck.view(to)
	res, fc := run(v, simulation.Call{
		Address: to.PodIP, Port: port, Protocol: proto, CallMode: simulation.CallModeInbound,
		TLS: simulation.MTLS, HostHeader: to.Deployment, Path: "/",
	})
	out := inboundRBAC{chain: fmt.Sprintf("%s/%s", res.ListenerMatched, res.FilterChainMatched)}
	if fc == nil {
		out.err = fmt.Errorf("no inbound filter chain of %s takes an mTLS %s call on port %d: %v", v.name, protocol, port, res.Error)
		ck.rbacMemo[key] = out
		return out
	}
	for _, f := range fc.GetFilters() {
		switch f.GetName() {
		case wellknown.RoleBasedAccessControl:
			c := &rbacnet.RBAC{}
			if err := f.GetTypedConfig().UnmarshalTo(c); err != nil {
				out.err = err
			}
			out.rules = append(out.rules, c.GetRules())
		case wellknown.HTTPConnectionManager:
			for _, hf := range xdstest.ExtractHTTPConnectionManager(ck.t, fc).GetHttpFilters() {
				if hf.GetName() != wellknown.HTTPRoleBasedAccessControl {
					continue
				}
				c := &rbachttp.RBAC{}
				if err := hf.GetTypedConfig().UnmarshalTo(c); err != nil {
					out.err = err
				}
				out.rules = append(out.rules, c.GetRules())
			}
		}
	}
	ck.rbacMemo[key] = out
	return out
}

// authorize: whether the callee's RBAC filters let the call through, and why not.
func (ck *checker) authorize(c authzCall) (bool, string, error) {
	to := ck.byDeploy[c.To]
	if to == nil {
		return false, "", fmt.Errorf("no pod of %s in this case", c.To)
	}
	in := ck.inbound(to, c.Port, c.Protocol)
	if in.err != nil {
		return false, "", in.err
	}
	for i, rules := range in.rules {
		if rules == nil {
			continue
		}
		var matched []string
		for name, policy := range rules.GetPolicies() {
			ok, err := policyMatches(policy, c.Principal, c.Port)
			if err != nil {
				return false, "", fmt.Errorf("policy %s: %v", name, err)
			}
			if ok {
				matched = append(matched, name)
			}
		}
		sort.Strings(matched)
		switch rules.GetAction() {
		case rbacpb.RBAC_ALLOW:
			if len(matched) == 0 {
				return false, fmt.Sprintf("no ALLOW policy of RBAC filter %d (chain %s) matches", i, in.chain), nil
			}
		case rbacpb.RBAC_DENY:
			if len(matched) > 0 {
				return false, fmt.Sprintf("DENY policies %s match", strings.Join(matched, ", ")), nil
			}
		}
	}
	return true, "", nil
}

func policyMatches(p *rbacpb.Policy, principal string, port int) (bool, error) {
	perm, err := anyOf(p.GetPermissions(), func(x *rbacpb.Permission) (bool, error) { return permissionMatches(x, port) })
	if err != nil || !perm {
		return false, err
	}
	return anyOf(p.GetPrincipals(), func(x *rbacpb.Principal) (bool, error) { return principalMatches(x, principal) })
}

func anyOf[T any](items []T, match func(T) (bool, error)) (bool, error) {
	for _, x := range items {
		ok, err := match(x)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func allOf[T any](items []T, match func(T) (bool, error)) (bool, error) {
	for _, x := range items {
		ok, err := match(x)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func permissionMatches(p *rbacpb.Permission, port int) (bool, error) {
	switch r := p.GetRule().(type) {
	case *rbacpb.Permission_Any:
		return r.Any, nil
	case *rbacpb.Permission_AndRules:
		return allOf(r.AndRules.GetRules(), func(x *rbacpb.Permission) (bool, error) { return permissionMatches(x, port) })
	case *rbacpb.Permission_OrRules:
		return anyOf(r.OrRules.GetRules(), func(x *rbacpb.Permission) (bool, error) { return permissionMatches(x, port) })
	case *rbacpb.Permission_NotRule:
		ok, err := permissionMatches(r.NotRule, port)
		return !ok, err
	case *rbacpb.Permission_DestinationPort:
		return int(r.DestinationPort) == port, nil
	case *rbacpb.Permission_DestinationPortRange:
		return int(r.DestinationPortRange.GetStart()) <= port && port < int(r.DestinationPortRange.GetEnd()), nil
	default:
		return false, fmt.Errorf("unsupported RBAC permission %T (the checker evaluates ports and identities only)", r)
	}
}

func principalMatches(p *rbacpb.Principal, principal string) (bool, error) {
	switch id := p.GetIdentifier().(type) {
	case *rbacpb.Principal_Any:
		return id.Any, nil
	case *rbacpb.Principal_AndIds:
		return allOf(id.AndIds.GetIds(), func(x *rbacpb.Principal) (bool, error) { return principalMatches(x, principal) })
	case *rbacpb.Principal_OrIds:
		return anyOf(id.OrIds.GetIds(), func(x *rbacpb.Principal) (bool, error) { return principalMatches(x, principal) })
	case *rbacpb.Principal_NotId:
		ok, err := principalMatches(id.NotId, principal)
		return !ok, err
	case *rbacpb.Principal_Authenticated_:
		if id.Authenticated.GetPrincipalName() == nil {
			return true, nil // any authenticated peer: every caller here has a certificate
		}
		return stringMatch(id.Authenticated.GetPrincipalName(), principal)
	case *rbacpb.Principal_FilterState:
		if id.FilterState.GetKey() != "io.istio.peer_principal" || id.FilterState.GetStringMatch() == nil {
			return false, fmt.Errorf("unsupported filter state matcher %v", id.FilterState)
		}
		return stringMatch(id.FilterState.GetStringMatch(), principal)
	default:
		return false, fmt.Errorf("unsupported RBAC principal %T (the checker evaluates ports and identities only)", id)
	}
}

// recordRouted notes the calls a followed request or client call made: caller -> each pod reached,
// on the port of the cluster that took it there (every Service port here is its pods' port).
func (ck *checker) recordRouted(from, principal, protocol, via string, r callResult) {
	for _, h := range r.hops {
		parts := strings.Split(h.cluster, "|")
		if len(parts) != 4 {
			continue
		}
		port, err := strconv.Atoi(parts[1])
		if err != nil {
			continue
		}
		c := authzCall{From: from, Principal: principal, To: h.to.Deployment, Port: port, Protocol: protocol}
		key := fmt.Sprintf("%s -> %s:%d", c.From, c.To, c.Port)
		if _, seen := ck.routedSeen[key]; !seen {
			ck.routedSeen[key] = true
			ck.routed = append(ck.routed, routedCall{call: c, via: via})
		}
	}
}

// checkAuthorization: every call the case's routes and clients make passes the callee's RBAC
// filters, and so does every expected one; every call outside the stage's is refused.
func (ck *checker) checkAuthorization() {
	a := ck.c.Expect.Authorization
	if a == nil {
		return
	}
	describe := func(c authzCall) string { return fmt.Sprintf("%s -> %s:%d (%s)", c.From, c.To, c.Port, c.Protocol) }
	for _, r := range ck.routed {
		ok, why, err := ck.authorize(r.call)
		if err != nil {
			ck.report(catDenied, "%s, which %s: %v", describe(r.call), r.via, err)
		} else if !ok {
			ck.report(catDenied, "%s, which %s, is refused: %s", describe(r.call), r.via, why)
		}
	}
	for _, c := range a.Allowed {
		ok, why, err := ck.authorize(c)
		if err != nil {
			ck.report(catDenied, "%s, a call of the stage: %v", describe(c), err)
		} else if !ok {
			ck.report(catDenied, "%s, a call of the stage, is refused: %s", describe(c), why)
		}
	}
	for _, c := range a.Denied {
		ok, _, err := ck.authorize(c)
		if err != nil {
			ck.report(catNoMatch, "%s: %v", describe(c), err)
		} else if ok {
			ck.report(catAllowed, "%s, a call the stage does not make, is let through", describe(c))
		}
	}
}

package routes

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The case format written by rig/route-cases.ts (test/support/routeCases.ts, RouteCase).

type routeCase struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Kind        string `json:"kind"`
	// Multi-document YAML for xds.FakeOptions.KubernetesObjectString and .ConfigString.
	Kubernetes string       `json:"kubernetes"`
	Istio      string       `json:"istio"`
	Ingress    ingress      `json:"ingress"`
	Services   []service    `json:"services"`
	Workloads  []workload   `json:"workloads"`
	Cookies    cookies      `json:"cookies"`
	Expect     expectations `json:"expect"`
	Control    *control     `json:"control"`
	// Control cases: the checker must report a problem.
	ExpectFailure bool `json:"expectFailure"`
	// Other states (transition/...) with exactly these objects, checked by this case.
	AlsoCovers []string `json:"alsoCovers"`
}

type ingress struct {
	Namespace   string            `json:"namespace"`
	ServiceName string            `json:"serviceName"`
	PodName     string            `json:"podName"`
	PodIP       string            `json:"podIP"`
	Labels      map[string]string `json:"labels"`
	Port        int               `json:"port"`
	Host        string            `json:"host"`
	Principal   string            `json:"principal"`
}

type service struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	ClusterIP string `json:"clusterIP"`
	Ports     []int  `json:"ports"`
}

type hostPort struct {
	Host   string `json:"host"`
	Port   int    `json:"port"`
	Engine string `json:"engine"`
	// Headers the app adds to every such call (analytics: the app's own version, which Gateway
	// API's mesh route matches on).
	Headers map[string]string `json:"headers"`
}

type workload struct {
	Deployment string            `json:"deployment"`
	Component  string            `json:"component"`
	Version    string            `json:"version"`
	PodName    string            `json:"podName"`
	PodIP      string            `json:"podIP"`
	Labels     map[string]string `json:"labels"`
	Principal  string            `json:"principal"`
	Analytics  *hostPort         `json:"analytics"`
	Storage    *hostPort         `json:"storage"`
}

type cookies struct {
	WithoutFlag []*string `json:"withoutFlag"`
	WithFlag    []*string `json:"withFlag"`
}

type chain struct {
	App              string  `json:"app"`
	Analytics        string  `json:"analytics"`
	AppStorage       string  `json:"appStorage"`
	AnalyticsStorage string  `json:"analyticsStorage"`
	Share            float64 `json:"share"`
}

func (c chain) path() string {
	return fmt.Sprintf("app %s -> analytics %s -> storage %s/%s", c.App, c.Analytics, c.AppStorage, c.AnalyticsStorage)
}

type storageClient struct {
	Client  string `json:"client"`
	Port    int    `json:"port"`
	Version string `json:"version"`
}

// expectedCall: a mesh route of the stage. The call must reach pods of Version ("" = any: the plain
// Service's round robin) through one of Clusters (the version's backend in the case's traffic API:
// a DestinationRule subset's cluster, a per-version Service's, or the plain Service's; mid-switch
// between the APIs, either API's).
type expectedCall struct {
	From     string   `json:"from"`
	Kind     string   `json:"kind"`
	Host     string   `json:"host"`
	Port     int      `json:"port"`
	Version  string   `json:"version"`
	Clusters []string `json:"clusters"`
}

type expectations struct {
	Users *struct {
		WithoutFlag []chain `json:"withoutFlag"`
		WithFlag    []chain `json:"withFlag"`
	} `json:"users"`
	StorageClients   []storageClient `json:"storageClients"`
	Sticky           []stickyCheck   `json:"sticky"`
	Calls            []expectedCall  `json:"calls"`
	ChainsDoNotCross bool            `json:"chainsDoNotCross"`
	// Least privilege (none: the case holds no AuthorizationPolicy).
	Authorization *authzExpectations `json:"authorization"`
}

// stickyCheck: one Cookie header carrying the canary cookie, the chains it must reach, and the
// cookie (name=value, "" none) the response must set per app version.
type stickyCheck struct {
	Cookie    string            `json:"cookie"`
	Chains    []chain           `json:"chains"`
	SetCookie map[string]string `json:"setCookie"`
}

type control struct {
	BasedOn    string `json:"basedOn"`
	Removed    string `json:"removed"`
	DetectedAs string `json:"detectedAs"`
}

// loadCases reads every *.json under dir, sorted by case name.
func loadCases(dir string) ([]*routeCase, error) {
	var out []*routeCase
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		c := &routeCase{}
		if err := json.Unmarshal(raw, c); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if c.Name == "" || c.Kubernetes == "" {
			return fmt.Errorf("%s: not a route case (no name or no kubernetes objects)", path)
		}
		out = append(out, c)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

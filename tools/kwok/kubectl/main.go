// kubectl v1.33.0 (the k8s.io/kubectl module at the version kwok v0.7.0's own
// Kubernetes libraries are at): kwokctl runs `kubectl get --raw /healthz` to
// tell that the cluster it started is served and ready, and would otherwise
// download kubectl. The same main as k8s.io/kubernetes' cmd/kubectl, which
// cannot be required here without replacing every staging module.
// Built by scripts/kube-apiserver.sh; nothing in the harness calls it directly.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}

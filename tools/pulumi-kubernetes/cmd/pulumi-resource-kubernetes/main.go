// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider.
//
// This is the project's own entry point for the upstream provider package:
// the upstream cmd/pulumi-resource-kubernetes embeds schema-embed.json and
// terraform-mapping-embed.json, which are produced by `go generate` in the
// upstream repository and are not part of the published Go module. The
// bootstrap script (scripts/bootstrap-pulumi.sh) writes those two files next to
// this one from schema.json / terraform-mapping.json in the Go module cache,
// with the schema's version set, before `go build`. Both files are git-ignored.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}

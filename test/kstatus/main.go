// kstatus-check reads Kubernetes objects (a JSON list, as `kubectl get -o json` prints it, or one
// object) on stdin and prints, one JSON line per object, the status that sigs.k8s.io/cli-utils'
// kstatus computes for it: the library Flux's kustomize-controller and helm-controller, kpt and
// `kubectl wait`-style tools use to decide whether an applied object is Current, InProgress or Failed.
//
// With -flux it instead decodes each object into Flux's own Go API types (GitRepository,
// Kustomization, HelmRelease), rejecting unknown fields and wrong types: the Flux CRDs are not
// installed on the test apiserver, so this is how the examples are schema-checked against Flux.
//
// A test tool (test/gitops/), built by scripts/build-kstatus.sh into the cache, never committed.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check: reading stdin:", err)
		os.Exit(2)
	}
	var top map[string]interface{}
	// utiljson, not encoding/json: integers stay int64, as unstructured accessors (metadata.generation,
	// status.observedGeneration) require.
	if err := utiljson.Unmarshal(in, &top); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check: stdin is not a JSON object:", err)
		os.Exit(2)
	}
	objs := []map[string]interface{}{top}
	if items, ok := top["items"].([]interface{}); ok {
		objs = objs[:0]
		for _, it := range items {
			if m, ok := it.(map[string]interface{}); ok {
				objs = append(objs, m)
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	if len(os.Args) > 1 && os.Args[1] == "-flux" {
		for _, o := range objs {
			u := &unstructured.Unstructured{Object: o}
			r := result{Kind: u.GetKind(), Name: u.GetNamespace() + "/" + u.GetName(), Status: "Valid"}
			if err := decodeFlux(u); err != nil {
				r.Status, r.Error = "Invalid", err.Error()
			}
			if err := enc.Encode(r); err != nil {
				os.Exit(2)
			}
		}
		return
	}
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o}
		r := result{Kind: u.GetKind(), Name: u.GetNamespace() + "/" + u.GetName()}
		res, err := status.Compute(u)
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Status = res.Status.String()
			r.Message = res.Message
		}
		if err := enc.Encode(r); err != nil {
			os.Exit(2)
		}
	}
}

// decodeFlux decodes u strictly into the Go type of its apiVersion and kind.
func decodeFlux(u *unstructured.Unstructured) error {
	var into interface{}
	switch u.GetAPIVersion() + "/" + u.GetKind() {
	case sourcev1.GroupVersion.String() + "/" + sourcev1.GitRepositoryKind:
		into = &sourcev1.GitRepository{}
	case kustomizev1.GroupVersion.String() + "/" + kustomizev1.KustomizationKind:
		into = &kustomizev1.Kustomization{}
	case helmv2.GroupVersion.String() + "/" + helmv2.HelmReleaseKind:
		into = &helmv2.HelmRelease{}
	default:
		return fmt.Errorf("not a Flux kind this checker knows: %s %s", u.GetAPIVersion(), u.GetKind())
	}
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

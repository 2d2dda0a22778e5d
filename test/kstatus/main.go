// kstatus-check reads Kubernetes objects (a JSON list, as `kubectl get -o json` prints it, or one
// object) on stdin and prints, one JSON line per object, the status that sigs.k8s.io/cli-utils'
// kstatus computes for it: the library Flux's kustomize-controller and helm-controller, kpt and
// `kubectl wait`-style tools use to decide whether an applied object is Current, InProgress or Failed.
// It is a test tool (test/gitops/kstatus.test.ts), built by scripts/build-kstatus.sh into the cache.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

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

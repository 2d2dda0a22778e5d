//go:build tools

// Package tools pins the two programs this module exists to build. The build tag keeps the file out
// of every build (a main package cannot be imported), while `go mod tidy` still sees the imports and
// records their dependencies in go.mod and go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)

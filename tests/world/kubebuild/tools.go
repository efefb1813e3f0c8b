//go:build tools

// Package kubebuild pins the real Kubernetes control plane that the local test world runs:
// kube-apiserver and kube-controller-manager from k8s.io/kubernetes, and etcd from
// go.etcd.io/etcd/server/v3, at the versions in go.mod. scripts/localenv builds them with
// `go build` and caches the binaries; nothing here is compiled into the operator.
package kubebuild

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)

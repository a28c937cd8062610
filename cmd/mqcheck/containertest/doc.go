// Package containertest runs mqcheck's container targets end to end
// through the CLI, against images built by scripts/podman-setup.sh. It is
// a package of its own so that its container starts overlap with
// cmd/mqcheck's tests under go test ./...
package containertest

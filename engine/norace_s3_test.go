//go:build !race

package engine

// raceBuild: the tests run under the race detector (go test -race).
const raceBuild = false

//go:build tools

// Package main pins kubo's `ipfs` command as a dependency of this wrapper module (DESIGN §7).
//
// The `tools` build tag keeps this file out of every build; the binary is built from the
// dependency itself: `go build -o … github.com/ipfs/kubo/cmd/ipfs` (see build-kubo.sh).
package main

import (
	_ "github.com/ipfs/kubo/cmd/ipfs"
)

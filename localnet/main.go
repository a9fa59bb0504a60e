//go:build tools

// Package main pins wasmd's command as a dependency of this wrapper module.
//
// wasmd's main package cannot be imported into a program, so this file is
// only seen by `go mod tidy` (the `tools` build tag keeps it out of every
// build). The binary is built from the dependency itself:
//
//	go build -tags netgo -ldflags "-checklinkname=0" -o … github.com/CosmWasm/wasmd/cmd/wasmd
package main

import (
	_ "github.com/CosmWasm/wasmd/cmd/wasmd"
)

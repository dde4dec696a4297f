// Package cli builds serin's command tree. Each command lives in a file of
// its own and is added by NewRootCommand; nothing registers itself.
package cli

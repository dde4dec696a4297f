package loadtester

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// The task types of Flagger's loadtester that serin runs.
const (
	typeCmd    = "cmd"
	typeBash   = "bash"
	typeHelm   = "helm"
	typeHelmv3 = "helmv3"
)

// errForbidden marks a task the operator has not allowed.
var errForbidden = errors.New("not allowed")

// task is one unit of work from a webhook's metadata.
type task struct {
	canary  string // name.namespace
	command string // metadata cmd, as given
	kind    string // "hey" or "exec", for logs and metrics
	hey     *heyLoad
	argv    []string // for exec
	logOut  bool     // logCmdOutput
	retOut  bool     // returnCmdOutput
}

// key de-duplicates background tasks: one run of a command per Canary at
// a time, as Flagger's loadtester does.
func (t *task) key() string { return t.canary + "\x00" + t.command }

// policy says which commands other than hey may run.
type policy struct {
	allowExec bool     // any command, through sh -c as Flagger does
	allowed   []string // command names run directly, without a shell
}

// newTask reads the task in a webhook's metadata. A "cmd" whose first word
// is hey runs serin's load generator; any other command runs only as the
// policy allows.
func newTask(canary string, md map[string]string, p policy) (*task, error) {
	typ := md["type"]
	if typ == "" {
		typ = typeCmd
	}
	cmd := md["cmd"]
	if strings.TrimSpace(cmd) == "" {
		return nil, errors.New("metadata: cmd is missing")
	}
	t := &task{canary: canary, command: cmd}
	var err error
	for _, f := range []struct {
		key string
		dst *bool
	}{{"logCmdOutput", &t.logOut}, {"returnCmdOutput", &t.retOut}} {
		if v, ok := md[f.key]; ok {
			if *f.dst, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("metadata: %s %q is not a boolean", f.key, v)
			}
		}
	}
	switch typ {
	case typeCmd:
		words, err := splitWords(cmd)
		if err != nil {
			return nil, fmt.Errorf("metadata: cmd %q: %w", cmd, err)
		}
		if len(words) > 0 && words[0] == "hey" {
			if t.hey, err = parseHey(words[1:]); err != nil {
				return nil, fmt.Errorf("metadata: cmd %q: %w", cmd, err)
			}
			t.kind = "hey"
			return t, nil
		}
		t.kind = "exec"
		switch {
		case p.allowExec:
			t.argv = []string{"sh", "-c", cmd}
		case len(words) > 0 && slices.Contains(p.allowed, words[0]):
			t.argv = words
		default:
			return nil, fmt.Errorf("command %q: %w: run serin loadtester with --allow-exec, or name %q in --allow-command", cmd, errForbidden, firstWord(words))
		}
	case typeBash:
		if !p.allowExec && !slices.Contains(p.allowed, "bash") {
			return nil, fmt.Errorf("type bash: %w: run serin loadtester with --allow-exec or --allow-command=bash", errForbidden)
		}
		t.kind = "exec"
		t.argv = []string{"bash", "-c", cmd}
	case typeHelm, typeHelmv3:
		words, err := splitWords(cmd)
		if err != nil {
			return nil, fmt.Errorf("metadata: cmd %q: %w", cmd, err)
		}
		if !p.allowExec && !slices.Contains(p.allowed, typ) {
			return nil, fmt.Errorf("type %s: %w: run serin loadtester with --allow-exec or --allow-command=%s", typ, errForbidden, typ)
		}
		t.kind = "exec"
		t.argv = append([]string{typ}, words...)
	default:
		return nil, fmt.Errorf("metadata: task type %q is not supported (cmd, bash, helm, helmv3)", typ)
	}
	return t, nil
}

// firstWord is the command's name as the allow-list must spell it.
func firstWord(words []string) string {
	if len(words) == 0 {
		return ""
	}
	return words[0]
}

// run carries the task out and returns what to answer with on success;
// the error says why it failed.
func (t *task) run(ctx context.Context) (string, error) {
	if t.hey != nil {
		r, err := t.hey.run(ctx)
		if err != nil {
			return "", err
		}
		return summary(t.hey.opts.URL, r), nil
	}
	cmd := exec.CommandContext(ctx, t.argv[0], t.argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return out.String(), fmt.Errorf("command %q: %w: %s", t.command, err, tail(out.String()))
	}
	return out.String(), nil
}

// tail is the end of a command's output, for an error message.
func tail(s string) string {
	s = strings.TrimSpace(s)
	const n = 1024
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/serinhq/serin/internal/rollout"
)

// Client talks to a running local runtime through its API socket.
type Client struct {
	dir  string
	http *http.Client
}

// ErrNotRunningHere is returned when no serin runs on a state directory.
var ErrNotRunningHere = errors.New("no serin is running")

// NewClient returns a client of the runtime on state directory dir.
func NewClient(dir string) *Client {
	sock := SocketPath(dir)
	return &Client{dir: dir, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://serin"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	var rep apiReply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	if out != nil && len(rep.Result) > 0 {
		if err := json.Unmarshal(rep.Result, out); err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
	}
	if rep.Error != "" {
		return errors.New(rep.Error)
	}
	return nil
}

func (c *Client) dialError(err error) error {
	if _, serr := os.Stat(SocketPath(c.dir)); errors.Is(serr, fs.ErrNotExist) || errors.Is(err, syscallECONNREFUSED) {
		return fmt.Errorf("%w on %s: start one with `serin run DIR` or `serin demo`, or pass --state-dir", ErrNotRunningHere, c.dir)
	}
	return fmt.Errorf("local api: %w", err)
}

// Snapshot returns the objects and pods.
func (c *Client) Snapshot(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	err := c.do(ctx, http.MethodGet, "/v1/snapshot", nil, &s)
	return s, err
}

// Apply creates or updates objects.
func (c *Client) Apply(ctx context.Context, objs ...any) ([]string, error) {
	return c.objects(ctx, "/v1/apply", objs)
}

// Delete removes objects.
func (c *Client) Delete(ctx context.Context, objs ...any) ([]string, error) {
	return c.objects(ctx, "/v1/delete", objs)
}

func (c *Client) objects(ctx context.Context, path string, objs []any) ([]string, error) {
	typed := make([]TypedObject, 0, len(objs))
	for _, o := range objs {
		t, err := EncodeObject(o)
		if err != nil {
			return nil, err
		}
		typed = append(typed, t)
	}
	var out []string
	err := c.do(ctx, http.MethodPost, path, typed, &out)
	return out, err
}

// SetImage sets a container's image.
func (c *Client) SetImage(ctx context.Context, r SetImageRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/set-image", r, nil)
}

// SetEnv sets environment variables.
func (c *Client) SetEnv(ctx context.Context, r SetEnvRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/set-env", r, nil)
}

// Command gives a Canary a manual command.
func (c *Client) Command(ctx context.Context, ns, name string, cmd rollout.Command) error {
	return c.do(ctx, http.MethodPost, "/v1/command", CommandRequest{Namespace: ns, Name: name, Command: cmd}, nil)
}

// Stats returns every Deployment's golden metrics over window.
func (c *Client) Stats(ctx context.Context, window time.Duration) ([]DeploymentStat, error) {
	var out []DeploymentStat
	err := c.do(ctx, http.MethodGet, "/v1/stats?window="+url.QueryEscape(window.String()), nil, &out)
	return out, err
}

// Events calls f with each event after since; with watch it keeps
// calling f with new events until ctx ends.
func (c *Client) Events(ctx context.Context, since int64, watch bool, f func(Event) error) error {
	q := url.Values{"since": {fmt.Sprint(since)}, "watch": {fmt.Sprint(watch)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://serin/v1/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("read event: %w", err)
		}
		if err := f(e); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// Logs copies a Deployment's logs to w; with follow until ctx ends.
func (c *Client) Logs(ctx context.Context, ns, deployment string, follow bool, w io.Writer) error {
	q := url.Values{"namespace": {ns}, "deployment": {deployment}, "follow": {fmt.Sprint(follow)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://serin/v1/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return errors.New(string(bytes.TrimSpace(b)))
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

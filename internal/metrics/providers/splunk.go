package providers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// splunk runs SignalFlow programs on Splunk Observability Cloud
// (SignalFx) through POST /v2/signalflow/execute, whose reply is a stream
// of server-sent events, on the stream host of the template's realm.
type splunk struct {
	api   *httpAPI
	token string
}

func newSplunk(cfg Config) (*splunk, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("splunk needs spec.provider.address, e.g. https://api.<realm>.signalfx.com")
	}
	api, err := newHTTPAPI(cfg, splunkStreamAddress(cfg.Address))
	if err != nil {
		return nil, err
	}
	s := &splunk{api: api}
	if s.token, err = cfg.secret("sf_token_key", "sf_token_key"); err != nil {
		return nil, err
	}
	return s, nil
}

// splunkStreamAddress turns the API address Flagger's templates name
// (https://api.<realm>.signalfx.com, or wss://stream.<realm>...) into the
// HTTP address of SignalFlow (https://stream.<realm>.signalfx.com).
func splunkStreamAddress(addr string) string {
	u, err := url.Parse(addr)
	if err != nil {
		return addr
	}
	switch u.Scheme {
	case "wss":
		u.Scheme = "https"
	case "ws":
		u.Scheme = "http"
	}
	if rest, ok := strings.CutPrefix(u.Host, "api."); ok {
		u.Host = "stream." + rest
	}
	return u.String()
}

// Value runs the SignalFlow program q.Text over the ten intervals before
// q.Now, as Flagger does. The value is the last non-null value of the one
// time series; none is no data, several time series an error.
func (s *splunk) Value(ctx context.Context, q Query) (float64, bool, error) {
	stop := q.Now.UnixMilli()
	start := stop - 10*q.Interval.Milliseconds()
	params := url.Values{
		"start":     {strconv.FormatInt(start, 10)},
		"stop":      {strconv.FormatInt(stop, 10)},
		"immediate": {"true"},
	}
	req, err := s.api.request(ctx, http.MethodPost, s.api.url("/v2/signalflow/execute", params), strings.NewReader(q.Text))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-SF-Token", s.token)
	body, _, err := s.api.do(req, splunkError)
	if err != nil {
		return 0, false, err
	}
	var (
		last  *float64
		tsIDs = map[string]bool{}
	)
	err = sseEvents(body, func(event string, data []byte) error {
		var msg struct {
			Type      string `json:"type"`
			Event     string `json:"event"`
			Message   string `json:"message"`
			ErrorType string `json:"errorType"`
			Data      []struct {
				TSID  string     `json:"tsId"`
				Value *jsonFloat `json:"value"`
			} `json:"data"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			return s.api.malformed("an event of the SignalFlow stream", data, err)
		}
		if event == "" {
			event = msg.Type
		}
		switch event {
		case "data":
			for _, p := range msg.Data {
				if p.Value == nil || math.IsNaN(float64(*p.Value)) || math.IsInf(float64(*p.Value), 0) {
					continue
				}
				v := float64(*p.Value)
				last = &v
				tsIDs[p.TSID] = true
			}
		case "error":
			return fmt.Errorf("%s: %w: %s %s", s.api.name, ErrRefused, msg.ErrorType, msg.Message)
		case "control-message":
			if msg.Event == "CHANNEL_ABORT" {
				return fmt.Errorf("%s: %w: the computation was aborted: %s", s.api.name, ErrRefused, excerpt(data))
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	if len(tsIDs) > 1 {
		ids := make([]string, 0, len(tsIDs))
		for id := range tsIDs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return 0, false, fmt.Errorf("%s: the program published %d time series (%s), want 1 (aggregate it, e.g. with .sum())", s.api.name, len(ids), strings.Join(ids, ", "))
	}
	if last == nil {
		return 0, false, nil
	}
	return *last, true, nil
}

// sseEvents calls fn with the name and data of each server-sent event of
// body; the lines of an event's data are joined by newlines.
func sseEvents(body []byte, fn func(event string, data []byte) error) error {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), maxReply)
	var (
		event string
		data  bytes.Buffer
	)
	dispatch := func() error {
		defer func() { event = ""; data.Reset() }()
		if data.Len() == 0 {
			return nil
		}
		return fn(event, bytes.TrimSuffix(data.Bytes(), []byte("\n")))
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if err := dispatch(); err != nil {
				return err
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return dispatch()
}

func splunkError(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Message
}

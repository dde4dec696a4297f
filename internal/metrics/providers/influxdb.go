package providers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// influxDB runs Flux queries through InfluxDB's /api/v2/query (InfluxDB
// 2.x, Cloud, and 1.8 with flux-enabled).
type influxDB struct {
	api   *httpAPI
	token string
	org   string
}

func newInfluxDB(cfg Config) (*influxDB, error) {
	api, err := newHTTPAPI(cfg, cfg.Address)
	if err != nil {
		return nil, err
	}
	i := &influxDB{api: api}
	if cfg.Secret != nil {
		// Flagger's key names. InfluxDB 1.8 takes "username:password" as
		// the token and ignores the organisation.
		if i.token, err = cfg.secret("token", "token", "org"); err != nil {
			return nil, err
		}
		if i.org, err = cfg.secret("org", "token", "org"); err != nil {
			return nil, err
		}
	}
	return i, nil
}

// Value runs the Flux query q.Text. The value is the _value of the one
// row of the result (a number: double, long or unsignedLong); no rows is
// no data, a null _value is no data, several rows an error.
func (i *influxDB) Value(ctx context.Context, q Query) (float64, bool, error) {
	payload, err := json.Marshal(map[string]any{
		"query": q.Text,
		"type":  "flux",
		"dialect": map[string]any{
			"header":      true,
			"delimiter":   ",",
			"annotations": []string{"datatype", "group", "default"},
		},
	})
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", i.api.name, err)
	}
	params := url.Values{}
	if i.org != "" {
		params.Set("org", i.org)
	}
	req, err := i.api.request(ctx, http.MethodPost, i.api.url("/api/v2/query", params), bytes.NewReader(payload))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/csv")
	if i.token != "" {
		req.Header.Set("Authorization", "Token "+i.token)
	}
	body, _, err := i.api.do(req, influxError)
	if err != nil {
		return 0, false, err
	}
	rows, err := fluxRows(body)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return 0, false, fmt.Errorf("%s: %w", i.api.name, err)
		}
		return 0, false, i.api.malformed("want Flux's annotated CSV", body, err)
	}
	switch len(rows) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("%s: the query returned %d rows, want 1 (aggregate it, e.g. with group() |> mean() or last())", i.api.name, len(rows))
	}
	v, ok, err := rows[0].value()
	if err != nil {
		return 0, false, i.api.malformed("the _value of the row", body, err)
	}
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, nil
	}
	return v, true, nil
}

// influxError reads the message of an error reply: {"message": ...}
// (2.x), {"error": ...} (1.8), or a CSV table with an error column (1.8
// when asked for CSV).
func influxError(body []byte) string {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err == nil && len(recs) == 2 && len(recs[0]) > 0 && recs[0][0] == "error" && len(recs[1]) > 0 {
			return recs[1][0]
		}
		return ""
	}
	if e.Message != "" {
		return strings.TrimSpace(e.Code + " " + e.Message)
	}
	return e.Error
}

// fluxRow is one row of a Flux result: its _value cell and the column's
// datatype.
type fluxRow struct {
	datatype string
	cell     string
	fill     string // the #default of the column, for an empty cell
}

func (r fluxRow) value() (float64, bool, error) {
	cell := r.cell
	if cell == "" {
		cell = r.fill
	}
	if cell == "" {
		return 0, false, nil
	}
	switch r.datatype {
	case "double", "long", "unsignedLong", "":
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return 0, false, fmt.Errorf("_value %q: %w", cell, err)
		}
		return v, true, nil
	}
	return 0, false, fmt.Errorf("_value is a %s (%q), want a number", r.datatype, cell)
}

// fluxRows reads the rows of every table of an annotated CSV reply. A
// table whose columns are "error" and "reference" is Flux's in-band
// error, returned wrapping ErrRefused.
func fluxRows(body []byte) ([]fluxRow, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	var (
		rows      []fluxRow
		datatypes []string
		defaults  []string
		header    []string
		valueCol  = -1
		errorCol  = -1
	)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		if len(rec) == 0 || (len(rec) == 1 && strings.TrimSpace(rec[0]) == "") {
			header = nil // a blank line ends a table
			continue
		}
		switch rec[0] {
		case "#datatype":
			datatypes, header = rec, nil
			continue
		case "#default":
			defaults = rec
			continue
		case "#group":
			continue
		}
		if header == nil {
			header, valueCol, errorCol = rec, -1, -1
			for i, name := range rec {
				switch name {
				case "_value":
					valueCol = i
				case "error":
					errorCol = i
				}
			}
			if valueCol < 0 && errorCol < 0 {
				return nil, fmt.Errorf("table header %q has no _value column", strings.Join(rec, ","))
			}
			continue
		}
		if valueCol < 0 {
			if errorCol < len(rec) && rec[errorCol] != "" {
				return nil, fmt.Errorf("%w: %s", ErrRefused, rec[errorCol])
			}
			continue
		}
		if valueCol >= len(rec) {
			return nil, fmt.Errorf("row %q has no _value cell", strings.Join(rec, ","))
		}
		row := fluxRow{cell: rec[valueCol]}
		if valueCol < len(datatypes) {
			row.datatype = datatypes[valueCol]
		}
		if valueCol < len(defaults) {
			row.fill = defaults[valueCol]
		}
		rows = append(rows, row)
	}
}

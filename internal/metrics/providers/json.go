package providers

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// jsonFloat is a number in a reply, written as a JSON number or as a
// string holding one ("1.5", "NaN").
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		v, err := n.Float64()
		if err != nil {
			return err
		}
		*f = jsonFloat(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a number, got %s", b)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("want a number, got %q", s)
	}
	*f = jsonFloat(v)
	return nil
}

package v1beta1

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ErrorMessage phrases a validation error without its field path, for
// people: "must be between 1 and 100, got 0".
func ErrorMessage(e *field.Error) string {
	_, omit := e.BadValue.(field.OmitValueType)
	switch e.Type {
	case field.ErrorTypeInvalid:
		switch {
		case omit:
			return e.Detail
		case e.Detail == "":
			return "invalid value " + formatValue(e.BadValue)
		default:
			return e.Detail + ", got " + formatValue(e.BadValue)
		}
	case field.ErrorTypeRequired:
		if e.Detail == "" {
			return "required"
		}
		return e.Detail
	case field.ErrorTypeForbidden:
		if e.Detail == "" {
			return "not allowed"
		}
		return e.Detail
	case field.ErrorTypeNotSupported:
		return fmt.Sprintf("unsupported value %s (%s)", formatValue(e.BadValue), e.Detail)
	case field.ErrorTypeDuplicate:
		return "duplicate value " + formatValue(e.BadValue)
	default:
		return strings.ToLower(e.ErrorBody()[:1]) + e.ErrorBody()[1:]
	}
}

func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
			return strconv.Quote(rv.String())
		}
		return fmt.Sprint(v)
	}
}

// Problems phrases every error of errs as "field: message", one after the
// other separated by "; ", as an Event or a log line shows them.
func Problems(errs field.ErrorList) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ": " + ErrorMessage(e)
	}
	return strings.Join(parts, "; ")
}

package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// isJSON reports whether a Content-Type names JSON (application/json or any +json type).
func isJSON(ct string) bool {
	if ct == "application/json" || strings.HasPrefix(ct, "application/json;") {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

var errNotJSON = newProblem(http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
	"send the body as application/json")

// readBody reads a request body of at most maxBody bytes that must be UTF-8.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBody {
		return nil, &http.MaxBytesError{Limit: maxBody}
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, newProblem(http.StatusBadRequest, codeInvalidJSON, "the request body could not be read")
	}
	b := buf.Bytes()
	if !utf8.Valid(b) {
		return nil, newProblem(http.StatusBadRequest, codeInvalidJSON, "the request body is not valid UTF-8")
	}
	return b, nil
}

// decodeJSON reads a JSON request body into dst: 415 unless the Content-Type is JSON, 413 over
// 1 MiB, 400 invalid_json when malformed or when a field has the wrong type.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if !isJSON(r.Header.Get("Content-Type")) {
		return errNotJSON
	}
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	return unmarshal(b, dst)
}

// unmarshal decodes b into dst, describing what is wrong as an invalid_json problem.
func unmarshal(b []byte, dst any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return newProblem(http.StatusBadRequest, codeInvalidJSON, "the request body is empty")
	}
	err := json.Unmarshal(b, dst)
	if err == nil {
		return nil
	}
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return newProblem(http.StatusBadRequest, codeInvalidJSON,
			fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error()))
	case errors.As(err, &typeErr):
		path := "/"
		if typeErr.Field != "" {
			path = "/" + strings.ReplaceAll(typeErr.Field, ".", "/")
		}
		msg := "must be " + jsonKind(typeErr.Type)
		return newProblem(http.StatusBadRequest, codeInvalidJSON,
			fmt.Sprintf("%s %s, not %s", path, msg, typeErr.Value)).withFields(field(path, msg))
	}
	return newProblem(http.StatusBadRequest, codeInvalidJSON, "malformed JSON")
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == reflect.TypeFor[json.RawMessage]() {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a different type"
}

// isEmptyBody reports whether a request has no body at all, for routes whose body is optional.
func isEmptyBody(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

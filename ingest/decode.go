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

// maxDepth is how deeply a JSON request body may nest objects and arrays; the body itself
// is level 1, so a task's input may nest 31 levels below it. Deeper documents are refused
// before they are decoded: nothing the API stores needs more, and every later pass over the
// input (schema validation, canonical hashing, the agents) recurses once per level.
const maxDepth = 32

var errTooDeep = newProblem(http.StatusBadRequest, codeJSONTooDeep,
	fmt.Sprintf("the JSON nests objects and arrays deeper than %d levels", maxDepth))

// unmarshal decodes b into dst, describing what is wrong as an invalid_json problem, or
// json_too_deep when b nests deeper than maxDepth.
func unmarshal(b []byte, dst any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return newProblem(http.StatusBadRequest, codeInvalidJSON, "the request body is empty")
	}
	if nestingDepth(b, maxDepth) > maxDepth {
		return errTooDeep
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
			fmt.Sprintf("%s %s, not %s", clip(path, maxEchoPath), msg, clip(typeErr.Value, maxEcho))).withFields(field(path, msg))
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

// nestingDepth returns how deeply b nests objects and arrays: 0 for a scalar, 1 for {} or
// [], 2 for [[]] and so on. It counts brackets outside strings in one pass without
// validating (the decoder rejects what is malformed afterwards), and returns as soon as the
// depth exceeds limit, so a hostile body costs no more than the scan up to that point.
func nestingDepth(b []byte, limit int) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end := stringEnd(b, i+1)
			if end < 0 {
				return deepest // unterminated: malformed anyway
			}
			i = end
		case '{', '[':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > limit {
					return deepest
				}
			}
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// stringEnd returns the index of the quote that closes a JSON string whose contents start
// at b[from], or -1. A quote is escaped exactly when an odd number of backslashes inside the
// string precede it: an even run is made of \\ escapes, an odd one ends in \".
func stringEnd(b []byte, from int) int {
	for i := from; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		q := i + j
		backslashes := 0
		for k := q - 1; k >= from && b[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return q
		}
		i = q + 1
	}
	return -1
}

package limits

import "errors"

// ErrUnavailable wraps every failure of a limiter's store (Redis refusing connections, a
// timeout, a closed client). The store error's text is kept in the message; its type is not.
var ErrUnavailable = errors.New("limits: store unavailable")

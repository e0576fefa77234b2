package tokens

import "time"

// SetWriteRetry sets how long c waits before writing again after MongoDB
// failed a write; call it before Run.
func SetWriteRetry(c *Cache, d time.Duration) { c.retryWrite = d }

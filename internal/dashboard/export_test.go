package dashboard

// ManyCanaries is a fake runtime with n Canaries, for the browser tests.
func ManyCanaries(n int) Source { return manyCanaries(n) }

package connector

// SetBeforeCommit makes the poll's transaction run f just before it
// commits (an error from f is a crash between Poll and commit).
func (e *Engine) SetBeforeCommit(f func() error) { e.beforeCommit = f }

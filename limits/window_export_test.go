package limits

// WindowKeys reports how many keys m holds state for, so tests can check that idle keys go.
func (m *MemoryWindow) WindowKeys() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.logs)
}

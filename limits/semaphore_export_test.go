package limits

// MemorySemaphoreSize reports how many keys and holders m keeps in memory, expired or not, so
// tests can check that its memory stays bounded.
func MemorySemaphoreSize(m *MemorySemaphore) (keys, holders int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, hs := range m.keys {
		holders += len(hs)
	}
	return len(m.keys), holders
}

package disk

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a
// closed store must have stopped its writer and every reader.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

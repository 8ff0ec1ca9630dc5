package peerhttp_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/edgecache/edgecache/edge/internal/leakcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.FastHTTP()...)
}

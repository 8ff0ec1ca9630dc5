package cli

import (
	"bytes"
	"fmt"
	"os"
)

// minSecretLen is the shortest cluster secret accepted: it keys the HMAC of
// every peer and admin request, and derives the gossip key.
const minSecretLen = 16

// SecretEnv holds the cluster secret when no file gives it. It is not a
// flag's twin: secrets do not belong on command lines.
const SecretEnv = "EDGECACHE_CLUSTER_SECRET"

// clusterSecret reads the cluster secret from secretFile (surrounding
// white space dropped) or else from EDGECACHE_CLUSTER_SECRET. It returns
// nil when neither is set, and an error for an unreadable file or a secret
// shorter than minSecretLen.
func clusterSecret(secretFile string) ([]byte, error) {
	secret := []byte(os.Getenv(SecretEnv))
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("--cluster-secret-file: %w", err)
		}
		secret = bytes.TrimSpace(b)
	}
	if len(secret) > 0 && len(secret) < minSecretLen {
		return nil, fmt.Errorf("the cluster secret is %d bytes; use at least %d (--cluster-secret-file or %s)", len(secret), minSecretLen, SecretEnv)
	}
	if len(secret) == 0 {
		return nil, nil
	}
	return secret, nil
}

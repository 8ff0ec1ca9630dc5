package cli

import (
	"bytes"
	"fmt"
	"os"
)

// minSecretLen is the shortest cluster secret accepted: it keys the HMAC of
// every peer and admin request, and derives the gossip key.
const minSecretLen = 16

// maxSecrets is how many cluster secrets an edge holds at once: the one it
// signs with and, during a rotation, the other one it accepts.
const maxSecrets = 2

// SecretEnv holds the cluster secret when no file gives it. It is not a
// flag's twin: secrets do not belong on command lines.
const SecretEnv = "EDGECACHE_CLUSTER_SECRET"

// clusterSecrets reads the cluster secrets from secretFile or else from
// EDGECACHE_CLUSTER_SECRET: one per line, surrounding white space and
// empty lines dropped. The first signs; a second, during a rotation, is
// accepted too (docs/design.md, "Rotating the cluster secret"). It returns
// nil when neither source is set, and an error for an unreadable file, more
// than two secrets, or one shorter than minSecretLen.
func clusterSecrets(secretFile string) ([][]byte, error) {
	raw, from := []byte(os.Getenv(SecretEnv)), SecretEnv
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("--cluster-secret-file: %w", err)
		}
		raw, from = b, "--cluster-secret-file"
	}
	var secrets [][]byte
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			secrets = append(secrets, line)
		}
	}
	if len(secrets) > maxSecrets {
		return nil, fmt.Errorf("%s holds %d cluster secrets, one per line; give one, or two during a rotation (the first signs)", from, len(secrets))
	}
	for i, s := range secrets {
		if len(s) < minSecretLen {
			return nil, fmt.Errorf("the cluster secret on line %d of %s is %d bytes; use at least %d", i+1, from, len(s), minSecretLen)
		}
	}
	return secrets, nil
}

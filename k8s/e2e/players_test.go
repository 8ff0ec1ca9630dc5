//go:build k8se2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Players are pods of the suite's image running the player program (see
// k8s/e2e/player) on a chosen node, in a namespace of their own under the
// same restricted Pod Security level as the edges. Each reads through the
// client Service and prints a summary that the test reads from its log.
const (
	playerNS   = "edgecache-players"
	objects    = 8
	objectSize = 8 << 20
	workingSet = objects * objectSize
)

// playerSummary is the player's JSON summary line (see player's summary).
type playerSummary struct {
	Requests       int            `json:"requests"`
	OK             int            `json:"ok"`
	Failed         int            `json:"failed"`
	Mismatches     int            `json:"mismatches"`
	Retried        int            `json:"retried"`
	Retries        int            `json:"retries"`
	LongestRetryMS int64          `json:"longest_retry_ms"`
	Bytes          int64          `json:"bytes"`
	XCache         map[string]int `json:"x_cache"`
	Errors         []string       `json:"errors"`
}

func (s playerSummary) String() string {
	return fmt.Sprintf("%d requests, %d ok, %d failed (%d wrong bytes), %d retried (%d retries, longest %d ms), %d MiB checked, X-Cache %v %s",
		s.Requests, s.OK, s.Failed, s.Mismatches, s.Retried, s.Retries, s.LongestRetryMS, s.Bytes>>20, s.XCache, strings.Join(s.Errors, "; "))
}

// playerNamespace creates the players' namespace.
func (c *cluster) playerNamespace() error {
	ns := corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: playerNS, Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}},
	}
	return c.applyJSON(ns)
}

// applyJSON applies one object.
func (c *cluster) applyJSON(obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	f := stateDir + "/apply-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".json"
	if err := writeFile(f, string(b)); err != nil {
		return err
	}
	_, err = c.kubectl("apply", "-f", f)
	return err
}

// wholeArgs reads every object of the working set once, whole.
func wholeArgs() []string {
	return []string{"--objects", strconv.Itoa(objects), "--object-size", strconv.Itoa(objectSize), "--passes", "1"}
}

// loadArgs reads random 1 MiB ranges of the working set for d.
func loadArgs(d time.Duration, seed int) []string {
	return []string{"--objects", strconv.Itoa(objects), "--object-size", strconv.Itoa(objectSize),
		"--duration", d.String(), "--rate", "8", "--workers", "4", "--range-size", "1MiB", "--seed", strconv.Itoa(seed)}
}

// startPlayer starts a player pod named name on node n with the given
// reading arguments.
func (c *cluster) startPlayer(name string, n *node, args []string) error {
	no, yes := false, true
	uid := int64(65532)
	cmd := append([]string{"/player", "--url", clientURL}, args...)
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: playerNS, Labels: map[string]string{"app.kubernetes.io/name": "edgecache-player"}},
		Spec: corev1.PodSpec{
			NodeSelector:                 map[string]string{"kubernetes.io/hostname": n.name},
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &no,
			EnableServiceLinks:           &no,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "player", Image: toolsImage, ImagePullPolicy: corev1.PullNever, Command: cmd,
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			}},
		},
	}
	return c.applyJSON(pod)
}

// player is the pod state this test needs.
func (c *cluster) player(name string) (*corev1.Pod, error) {
	var p corev1.Pod
	err := c.get("/api/v1/namespaces/"+playerNS+"/pods/"+name, &p)
	return &p, err
}

// waitPlayersRunning waits until the named players' containers run.
func (c *cluster) waitPlayersRunning(names ...string) error {
	return poll(2*time.Minute, 500*time.Millisecond, func() (bool, error) {
		for _, name := range names {
			p, err := c.player(name)
			if err != nil {
				return false, err
			}
			if p.Status.Phase == corev1.PodPending {
				return false, fmt.Errorf("player %s is Pending: %v", name, p.Status.Conditions)
			}
		}
		return true, nil
	}, "the players to start")
}

// playerResult waits for a player to end and returns its summary.
func (c *cluster) playerResult(name string, timeout time.Duration) (playerSummary, error) {
	var sum playerSummary
	err := poll(timeout, time.Second, func() (bool, error) {
		p, err := c.player(name)
		if err != nil {
			return false, err
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return true, nil
		case corev1.PodFailed:
			logs, _ := c.kubectl("-n", playerNS, "logs", name)
			return false, fmt.Errorf("player %s failed: %s", name, logs)
		}
		return false, fmt.Errorf("player %s is %s", name, p.Status.Phase)
	}, "player "+name+" to finish")
	if err != nil {
		return sum, err
	}
	out, err := c.kubectl("-n", playerNS, "logs", name)
	if err != nil {
		return sum, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		return sum, fmt.Errorf("player %s's summary %q: %w", name, out, err)
	}
	return sum, nil
}

// runPlayers starts one player per node, named name-<node>, and returns
// their names in node order.
func (c *cluster) runPlayers(name string, args func(n *node) []string) ([]string, error) {
	var names []string
	for _, n := range c.nodes {
		pn := name + "-" + n.name
		if err := c.startPlayer(pn, n, args(n)); err != nil {
			return nil, err
		}
		names = append(names, pn)
	}
	return names, c.waitPlayersRunning(names...)
}

# The edgecache image: one static binary on an empty base.
#
# It is built FROM scratch from a binary compiled on the host, because the
# machines that build it reach no image registry (there is no golang or
# distroless image to pull). Build it with `make image`, which runs
#
#   CGO_ENABLED=0 go build -trimpath -o dist/edgecache .
#   cp /etc/ssl/certs/ca-certificates.crt dist/
#   docker build -t edgecache:dev .
#
# The build context is dist/ only (see .dockerignore).
FROM scratch

# CA certificates, so that an edge can fetch from an https:// origin. Go's
# crypto/x509 reads this path on Linux.
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY dist/edgecache /edgecache

# The same non-root uid:gid as distroless' "nonroot" and as the Kubernetes
# securityContext in k8s/daemonset.yaml. scratch has no /etc/passwd, so the
# user is numeric; nothing here writes to the filesystem.
USER 65532:65532

# client (players), peer (other edges), admin (/healthz, /readyz), gossip
# (only with --join).
EXPOSE 8080 8081 8082 7946

# No shell in the image: the binary probes itself. It follows
# EDGECACHE_ADMIN_LISTEN when the admin port is moved.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/edgecache", "healthcheck", "--timeout", "2s"]

ENTRYPOINT ["/edgecache"]
CMD ["edge"]

vcl 4.1;
# Varnish in front of the comparisons' origin, with objects in memory
# (lib.sh starts it with -s malloc,2G, room for the whole data set). Apart
# from a long TTL and an X-Cache header it is Varnish as installed: on a
# miss it drops the client's Range, fetches the whole object and serves the
# range from it as it streams in.
#
# A template: lib.sh replaces @ORIGIN_HOST@ and @ORIGIN_PORT@.

backend origin {
    .host = "@ORIGIN_HOST@";
    .port = "@ORIGIN_PORT@";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
    .between_bytes_timeout = 10s;
}

sub vcl_recv {
    # The data set is public: nothing a client sends makes it private.
    unset req.http.Cookie;
    unset req.http.Authorization;
    return (hash);
}

sub vcl_backend_response {
    set beresp.ttl = 24h;
    set beresp.grace = 1h;
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}

# mitmproxy addon for the scopegate benchmark: connect every intercepted bench name to the local
# upstream (127.0.0.1:BENCH_UPSTREAM_PORT). SNI and the Host header stay the name the client asked
# for, so upstream TLS is still verified for that name (ssl_verify_upstream_trusted_ca).
import os

PORT = int(os.environ["BENCH_UPSTREAM_PORT"])
SUFFIX = "." + os.environ.get("BENCH_GUARDED_SUFFIX", "bench.test")
RAILWAY = os.environ.get("BENCH_RAILWAY_HOST", "backboard.railway.com")


class Route:
    def server_connect(self, data):
        host = data.server.address[0] if data.server.address else ""
        if host.endswith(SUFFIX) or host == RAILWAY:
            data.server.address = ("127.0.0.1", PORT)


addons = [Route()]

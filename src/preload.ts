/**
 * Loaded into an agent's Node process with NODE_OPTIONS="--import …/preload.js". Node 20's
 * built-in fetch ignores HTTPS_PROXY; this makes fetch (and anything on undici's global
 * dispatcher) go through the proxy the environment names. It changes nothing else.
 */
import { EnvHttpProxyAgent, setGlobalDispatcher } from 'undici';

const env = process.env;
if (env['HTTPS_PROXY'] || env['https_proxy'] || env['HTTP_PROXY'] || env['http_proxy']) {
  setGlobalDispatcher(new EnvHttpProxyAgent());
}

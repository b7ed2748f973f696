/**
 * The read queries scopegate sends to Railway to resolve a target's live scope. Each is checked
 * against our SDL subset of Railway's public schema in test/unit/railway-resolve.test.ts.
 * Pages are large; a page that is not the last makes the view partial, and a partial view is
 * an unresolved scope.
 */

/** Everything the scope of any target in a project depends on, in one round trip. */
export const PROJECT_SNAPSHOT = `query ScopegateProjectSnapshot($projectId: String!) {
  project(id: $projectId) {
    id name workspaceId primaryEnvironmentId deletedAt
    environments(first: 100) {
      edges { node {
        id name isEphemeral deletedAt
        sourceEnvironment { id name }
        serviceInstances(first: 500) {
          edges { node {
            id serviceId environmentId
            activeDeployments { id status instances { id status } }
            domains { customDomains { id domain } serviceDomains { id domain } }
          } }
          pageInfo { hasNextPage }
        }
        volumeInstances(first: 500) {
          edges { node { id volumeId serviceId environmentId mountPath state } }
          pageInfo { hasNextPage }
        }
      } }
      pageInfo { hasNextPage }
    }
    services(first: 500) { edges { node { id name } } pageInfo { hasNextPage } }
    volumes(first: 500) { edges { node { id name } } pageInfo { hasNextPage } }
    buckets(first: 500) { edges { node { id name } } pageInfo { hasNextPage } }
  }
}`;

export const ENVIRONMENT_PROJECT = `query ScopegateEnvironmentProject($id: String!) {
  environment(id: $id) { id projectId }
}`;

export const SERVICE_PROJECT = `query ScopegateServiceProject($id: String!) {
  service(id: $id) { id projectId }
}`;

export const DEPLOYMENT = `query ScopegateDeployment($id: String!) {
  deployment(id: $id) { id projectId environmentId serviceId status deploymentStopped }
}`;

export const VOLUME_INSTANCE = `query ScopegateVolumeInstance($id: String!) {
  volumeInstance(id: $id) { id volumeId environmentId serviceId environment { id projectId } }
}`;

export const PROJECT_TOKEN = `query ScopegateProjectToken {
  projectToken { projectId environmentId }
}`;

/** For ids with no direct lookup (volumes, buckets): which of the credential's projects holds it. */
export const PROJECTS_INDEX = `query ScopegateProjectsIndex {
  projects(first: 100) {
    edges { node {
      id
      volumes(first: 500) { edges { node { id } } pageInfo { hasNextPage } }
      buckets(first: 500) { edges { node { id } } pageInfo { hasNextPage } }
      services(first: 500) { edges { node { id } } pageInfo { hasNextPage } }
    } }
    pageInfo { hasNextPage }
  }
}`;

export const BACKUPS = `query ScopegateBackups($volumeInstanceId: String!) {
  volumeInstanceBackupList(volumeInstanceId: $volumeInstanceId) { id createdAt expiresAt scheduleId }
}`;

export const STAGED_PATCH = `query ScopegateStagedPatch($environmentId: String!) {
  environmentStagedChanges(environmentId: $environmentId) { id status updatedAt patch }
}`;

export const CUSTOM_DOMAIN = `query ScopegateCustomDomain($id: String!, $projectId: String!) {
  customDomain(id: $id, projectId: $projectId) { id environmentId serviceId projectId }
}`;

/**
 * HTTP requests served, per (environment, service) pair, in one round trip: one aliased
 * `httpMetrics` field per pair (`h0`, `h1`, …), each with its own variables. Samples are request
 * counts per step; an answer with no samples for a service that exists is zero requests.
 */
export function httpTrafficQuery(pairs: number): string {
  const vars = ['$startDate: DateTime!', '$endDate: DateTime!', '$stepSeconds: Int'];
  const fields: string[] = [];
  for (let i = 0; i < pairs; i++) {
    vars.push(`$e${i}: String!`, `$s${i}: String!`);
    fields.push(`  h${i}: httpMetrics(environmentId: $e${i}, serviceId: $s${i}, startDate: $startDate, endDate: $endDate, stepSeconds: $stepSeconds) { samples { ts value } }`);
  }
  return `query ScopegateHttpTraffic(${vars.join(', ')}) {\n${fields.join('\n')}\n}`;
}

/**
 * Network bytes in and out of every service of the project, by environment and service, in one
 * round trip: what shows a database (TCP, never HTTP) in use.
 */
export const NETWORK_TRAFFIC = `query ScopegateNetworkTraffic($projectId: String!, $startDate: DateTime!, $endDate: DateTime!, $sampleRateSeconds: Int) {
  metrics(projectId: $projectId, startDate: $startDate, endDate: $endDate, measurements: [NETWORK_RX_GB, NETWORK_TX_GB], groupBy: [ENVIRONMENT_ID, SERVICE_ID], sampleRateSeconds: $sampleRateSeconds) {
    measurement
    tags { environmentId serviceId }
    values { ts value }
  }
}`;

export const ALL_QUERIES: Record<string, string> = {
  PROJECT_SNAPSHOT,
  ENVIRONMENT_PROJECT,
  SERVICE_PROJECT,
  DEPLOYMENT,
  VOLUME_INSTANCE,
  PROJECT_TOKEN,
  PROJECTS_INDEX,
  BACKUPS,
  STAGED_PATCH,
  CUSTOM_DOMAIN,
  HTTP_TRAFFIC_ONE: httpTrafficQuery(1),
  HTTP_TRAFFIC_THREE: httpTrafficQuery(3),
  NETWORK_TRAFFIC,
};
